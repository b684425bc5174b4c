"""``python -m tvm_nacos.cli``: the ``tvm-nacos`` command line."""

import sys

from tvm_nacos.cli import main

sys.exit(main())
