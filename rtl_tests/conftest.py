import sys
from pathlib import Path

# The tests import the shared simulation helpers as plain modules, and the golden-model tests'
# random networks.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
