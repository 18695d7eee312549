#!/usr/bin/env bash
# The python3 that has matplotlib, for the benchmark plots: Debian's
# python3-matplotlib serves /usr/bin/python3, which another python3 earlier
# in PATH (pyenv, a venv) may not see.
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo /usr/bin/python3
else
  echo python3
fi
