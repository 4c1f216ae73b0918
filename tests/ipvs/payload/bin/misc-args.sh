#!/bin/sh
# MISC_CHECK of corpus-misc_check_arg.conf: up only with the arguments the config gives
[ "$#" = 2 ] && [ "$1" = arg1 ] && [ "$2" = arg2 ]
