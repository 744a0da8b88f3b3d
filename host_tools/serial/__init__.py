"""The host end of the serial link: the agent protocol over a port, and a
simulated board on a pseudo-terminal to talk to without hardware."""
