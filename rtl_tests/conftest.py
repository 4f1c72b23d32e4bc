import sys
from pathlib import Path

# The tests import the shared simulation helpers as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
