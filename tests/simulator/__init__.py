"""Tests of `kling.simulator`: the real `KlingClient` and raw HTTP against the simulator."""
