from __future__ import annotations

import subprocess
import sys

PURE_MODULES = ("validation", "batching", "sources", "reports")


def test_pure_modules_import_nothing_from_airflow():
    imports = "; ".join(f"import airflow_provider_sfmc_de.{name}" for name in PURE_MODULES)
    probe = (
        f"import sys; {imports}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
