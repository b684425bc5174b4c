"""``tvm_nacos.search_space`` (and the package root) import without TVM or PyTorch."""

import subprocess
import sys


def test_search_space_does_not_import_tvm_or_torch() -> None:
    code = (
        "import sys, tvm_nacos, tvm_nacos.search_space, tvm_nacos.errors;"
        "space = tvm_nacos.search_space.SearchSpace([tvm_nacos.search_space.ChoiceSpec('a', ('x', 'y'))]);"
        "assert space.size == 2;"
        "print(sorted(m for m in ('tvm', 'tvm_ffi', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_lazy_attribute_loads_on_demand() -> None:
    code = "import sys, tvm_nacos; f = tvm_nacos.from_torch; print('torch' in sys.modules, f.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "from_torch"]


def test_builtin_spaces_do_not_import_tvm_or_torch() -> None:
    code = (
        "import sys, tvm_nacos.search_space as ss;"
        "sizes = [ss.get(name).space.size for name in ss.names()];"
        "nb = ss.get('nas-bench-201');"
        "assert nb.index(nb.sample_from_index(6111)) == 6111;"
        "print(len(sizes), sorted(m for m in ('tvm', 'tvm_ffi', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "4 []", result.stdout + result.stderr


def test_table_accuracy_does_not_import_tvm_or_torch() -> None:
    code = (
        "import sys, tvm_nacos.search_space as ss, tvm_nacos.accuracy as acc, tvm_nacos.models;"
        "nb = ss.get('nas-bench-201');"
        "print(acc.TableAccuracy().evaluate([nb.sample_from_index(6111)]),"
        " sorted(m for m in ('tvm', 'tvm_ffi', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[91.6067] []", result.stdout + result.stderr
