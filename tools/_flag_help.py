"""Help texts of flags that several programs in tools/ define alike.

The programs import it as a sibling module, which works however they are started: a script's
own folder is first on `sys.path` (`python tools/inpaint.py`, from any directory), and a
program loaded by file path (the campaign driver, `runpy.run_path`) adds tools/ first:

    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import _flag_help
"""

# The help of the tri-state --ensemble flag (inpaint.py, evaluate.py, export.py), which they
# pass to `inference.load_generator(ensemble=...)`.
ENSEMBLE_FLAG_HELP = (
    "Run the test-time self-ensemble (the mean of the outputs for the image as it is, rotated by "
    "90, 180, 270 degrees and flipped: 5x the compute); --noensemble runs the single network. "
    "Default: what the checkpoint records (shipped with --ensemble or not)."
)
