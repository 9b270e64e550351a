"""A registry of named implementations (Sentry's `Registry` idiom): item kinds, event types.

    kinds: Registry[ItemKind] = Registry("item kind")

    @kinds.register("preference")
    class PreferenceKind(ItemKind): ...

Registration order is kept: it is the order choices are offered in.
"""

from collections.abc import Callable, Iterator


class NoSuchEntry(LookupError):
    pass


class Registry[T]:
    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if key in self._entries:
                raise ValueError(f"{self.what} {key!r} is registered twice")
            self._entries[key] = entry
            return entry

        return add

    def get(self, key: str) -> T:
        try:
            return self._entries[key]
        except KeyError:
            raise NoSuchEntry(f"no {self.what} named {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
