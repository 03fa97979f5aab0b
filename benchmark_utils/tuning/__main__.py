"""python -m benchmark_utils.tuning STUDY.yml [--bench DIR]: run a tuning
study and write outputs/<study>_report.md and .html."""
import argparse
from pathlib import Path

from benchmark_utils.training.environment import BadEnvironment, check
from benchmark_utils.tuning.checks import StudyError
from benchmark_utils.tuning.report import html_page, markdown
from benchmark_utils.tuning.study import load_study, run_study


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmark_utils.tuning",
                                     description=__doc__)
    parser.add_argument("study", help="a study file, e.g. studies/digits.yml")
    parser.add_argument("--bench", default=".", help="the benchmark folder")
    args = parser.parse_args(argv)
    try:
        # Everything checked before the first trial: the environment the
        # runs inherit, then the study file.
        check()
        study = load_study(args.study, args.bench)
        result = run_study(study, args.bench)
    except (StudyError, BadEnvironment) as e:
        # The reason, as the last line: not a traceback, not a
        # subprocess's exit status.
        raise SystemExit(f"Study {args.study} stopped: {e}") from None
    out = Path(args.bench) / "outputs" / f"{study['name']}_report"
    out.with_suffix(".md").write_text(markdown(result))
    out.with_suffix(".html").write_text(html_page(result))
    print(f"Report: {out}.md and {out}.html")
    return result


if __name__ == "__main__":
    main()
