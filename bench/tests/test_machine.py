"""A README figure names the processor it was measured on."""

from bench.machine import describe, processor

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC   7B12
flags\t\t: fpu sse2 ssse3 avx avx2 bmi2
processor\t: 1
model name\t: AMD EPYC   7B12
flags\t\t: fpu sse2 ssse3 avx avx2 bmi2
"""


def test_the_model_and_the_widest_vector_extension_are_named() -> None:
    assert processor(EPYC) == "AMD EPYC 7B12, AVX2"


def test_avx512_is_named_over_avx2() -> None:
    assert processor("model name : Xeon\nflags : ssse3 avx2 avx512f\n") == "Xeon, AVX-512"


def test_a_cpuinfo_without_a_model_or_known_flags_names_what_it_has() -> None:
    assert processor("flags : fpu sse2\n") == ""
    assert processor("model name : POWER10\n") == "POWER10"


def test_this_machine_is_described_with_its_cpu_count() -> None:
    description = describe()
    assert description.split(" CPUs (")[0].isdigit()
    assert description.endswith(")")
