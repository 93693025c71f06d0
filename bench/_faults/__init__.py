"""Helpers of the fault-injection suite (``python -m bench.faults``): the NUT stacks it
starts (``stack``), the clients that measure and attack them (``clients``) and the faults
themselves (``rows``)."""
