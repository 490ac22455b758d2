"""Tests of the Firemoon client, one module per module: `kling.client`, `kling.retry` and
`kling.responses`, against a real loopback server (`scripted_server`)."""
