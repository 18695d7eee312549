"""bench_plot.py: matplotlib for the benchmark scripts' plots, without a
display; a plot is skipped (not an error) when it is missing."""
import sys


def pyplot(who):
    """matplotlib.pyplot, or exit quietly with a note from who when python3-
    matplotlib is missing (scripts/deps.sh installs it)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{who}: python3-matplotlib is missing (scripts/deps.sh installs it): no plot",
              file=sys.stderr)
        sys.exit(0)
    return plt
