"""What this host can run containers with, probed and built the same way by whichever process
needs it: the daemon (a container town's first turn builds its image) and the CLI (`gt doctor`,
`gt image build` and `gt town create`, which show the build's progress on the user's terminal).
No town state lives here: a town's image settings come from the daemon (`town.show`)."""
