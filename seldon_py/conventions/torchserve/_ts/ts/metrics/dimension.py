"""A metric dimension (name, value), as TorchServe's metrics API takes them."""

from typing import Any


class Dimension:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        return f"{self.name}:{self.value}"

    def to_dict(self) -> dict:
        return {"Name": self.name, "Value": self.value}
