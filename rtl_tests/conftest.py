import signal
import sys
from pathlib import Path

# The tests import the shared simulation helpers as plain modules, and the golden-model tests'
# random networks.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

# A test run started as a shell's background job inherits SIGINT ignored, and so would the
# processes the tests interrupt (an ignored signal stays ignored across exec); with a handler
# here, they start with the default and turn Ctrl-C into KeyboardInterrupt as in a terminal.
signal.signal(signal.SIGINT, signal.default_int_handler)
