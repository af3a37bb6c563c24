"""What the benchmarks ran on, in the words their README sections use.

The same code measures two or three times apart on machines that all say "2 CPUs, x86_64": the
hash's speed follows the clock and the widest vector instructions the CPU offers (libsodium
picks AVX-512, AVX2 or SSSE3 at run time). Naming the processor keeps a README figure comparable
with the reader's own run.
"""

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# Widest first: the first one a CPU lists is the one libsodium's Argon2 uses.
VECTOR_EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("ssse3", "SSSE3"))


def processor(cpuinfo: str) -> str:
    """'AMD EPYC, AVX2' from the text of /proc/cpuinfo; '' when it names nothing."""
    model = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = " ".join(value.split())
        elif key == "flags" and not flags:
            flags = set(value.split())
    vector = next((name for flag, name in VECTOR_EXTENSIONS if flag in flags), "")
    return ", ".join(part for part in (model, vector) if part)


def describe() -> str:
    """'2 CPUs (AMD EPYC, AVX2, x86_64)': the count, then what each one is."""
    try:
        named = processor(CPUINFO.read_text())
    except OSError:  # not Linux: the architecture alone
        named = ""
    details = ", ".join(part for part in (named, platform.machine()) if part)
    return f"{os.cpu_count() or 0} CPUs ({details})"
