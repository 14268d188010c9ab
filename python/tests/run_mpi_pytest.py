"""Runs test_mpi.py on every rank (ctest: mpirun -np N python3 run_mpi_pytest.py) and
prints tests/support/run_mpi.cmake's marker from rank 0 when every rank passed."""
import os
import sys

import pytest
from mpi4py import MPI

here = os.path.dirname(os.path.abspath(__file__))
rc = int(pytest.main(["-q", "-p", "no:cacheprovider", os.path.join(here, "test_mpi.py")]))
worst = MPI.COMM_WORLD.allreduce(rc, op=MPI.MAX)
if worst == 0 and MPI.COMM_WORLD.rank == 0:
    print("kelvin-mpi: every rank passed", flush=True)
sys.exit(worst)
