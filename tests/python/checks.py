"""A tiny check recorder for the client scripts (no pytest needed)."""


class Checks:
    def __init__(self, client):
        self.client = client
        self.passed = 0
        self.failed = 0

    def ok(self, name, condition, detail=""):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL [{self.client}] {name} {detail}")

    def eq(self, name, got, expected):
        self.ok(name, got == expected, f"got {got!r}, expected {expected!r}")

    def finish(self):
        """Prints the summary line; returns the process exit code."""
        print(f"{self.client}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
