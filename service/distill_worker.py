"""Worker process of a distillation job: ``python -m service.distill_worker EXIT_CODE_FILE distill ...``.

Runs the ``kgr`` command in this process and records its exit code in a file, so a restarted service can
tell a finished job from one that was cut short.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    exit_file, command = Path(argv[0]), argv[1:]
    code = 1
    try:
        from service.cli import main as kgr_main

        code = kgr_main(command)
    except SystemExit as exc:  # argparse errors exit; keep their code
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        tmp = exit_file.with_name(exit_file.name + ".tmp")
        tmp.write_text(str(code))
        os.replace(tmp, exit_file)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
