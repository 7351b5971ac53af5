"""`make setup` imports the sample grids only into an empty database, never over a county's own."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MINGBAI = str(Path(sys.executable).parent / "mingbai")


def test_sample_import_only_when_empty(tmp_path):
    env = {**os.environ, "MINGBAI_HOME": str(tmp_path)}
    first = subprocess.run([MINGBAI, "grid", "import", str(ROOT / "data/grids/sample.yml"), "--if-empty"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "新增" in first.stdout
    again = subprocess.run([MINGBAI, "grid", "import", str(ROOT / "data/grids/sample.yml"), "--if-empty"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "跳过" in again.stdout
