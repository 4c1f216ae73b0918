#!/bin/sh
# lvs_notify_fifo_script of the scenarios: copy what the daemon writes to its FIFO (the
# path comes last) into PATH.log, until the daemon closes it.
exec cat "$1" >> "$1.log"
