"""The one program cache: built once per key, its first run timed as compilation, least recent dropped."""

from tvrestore.solvers.programs import Programs


def test_a_program_is_built_and_warmed_up_once_per_key_and_the_oldest_dropped():
    built, warmed = [], []

    def build(name):
        return lambda: built.append(name) or f"program {name}"

    cache = Programs(kept=2)
    first, compile_seconds = cache.get("a", build("a"), warmed.append)
    assert first == "program a" and warmed == ["program a"] and compile_seconds > 0
    again, compile_seconds = cache.get("a", build("a"), warmed.append)
    assert again == first and compile_seconds == 0.0 and built == ["a"]
    cache.get("b", build("b"), warmed.append)
    cache.get("a", build("a"), warmed.append)  # a is now the most recent
    cache.get("c", build("c"), warmed.append)  # drops b, the least recent
    cache.get("a", build("a"), warmed.append)
    cache.get("b", build("b"), warmed.append)
    assert built == ["a", "b", "c", "b"]
