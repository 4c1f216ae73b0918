#!/bin/sh
# MISC_CHECK of corpus-misc_check.conf: up
exit 0
