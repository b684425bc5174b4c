"""The Python API behind the ``tvm-nacos`` command line: one module per subcommand.

- :mod:`~tvm_nacos.interface.search`: ``tvm-nacos search`` (:func:`~.search.run_search`: a
  built-in space or a model file, an accuracy estimator by name, the report in the work
  directory);
- :mod:`~tvm_nacos.interface.report`: ``tvm-nacos report`` (:func:`~.report.regenerate_report`);
- :mod:`~tvm_nacos.interface.compile`: ``tvm-nacos compile`` (:func:`~.compile.export_architecture`);
- :mod:`~tvm_nacos.interface.spaces`: ``tvm-nacos spaces`` (:func:`~.spaces.list_spaces`; needs
  neither TVM nor PyTorch);
- :mod:`~tvm_nacos.interface.tasks`: ``tvm-nacos tasks`` (:func:`~.tasks.architecture_tasks`);
- :mod:`~tvm_nacos.interface.example`: ``tvm-nacos example`` (:func:`~.example.run_example`).

Each function takes typed arguments and returns a value object; the command line
(:mod:`tvm_nacos.cli`) only parses arguments, calls one of them and prints. Every file of a work
directory is read and written through :class:`tvm_nacos.workdir.WorkDir`. TVM and PyTorch are
imported inside the functions that need them, and this package imports none of its modules, so
``tvm-nacos spaces`` and ``--help`` stay fast.
"""
