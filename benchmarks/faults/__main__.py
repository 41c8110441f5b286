import sys

from benchmarks.faults.suite import main

sys.exit(main(sys.argv[1:]))
