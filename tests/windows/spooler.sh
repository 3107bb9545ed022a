#!/usr/bin/env bash
# The Linux side of the Lua scenarios under Wine (see tests/lua/helper.lua): runs each shell
# command a Windows-side scenario drops into SPOOL as NAME.sh with bash, from the same
# working directory, and writes its exit status to NAME.rc. Runs until killed.
# usage: spooler.sh SPOOL
set -uo pipefail
spool=$1
shopt -s nullglob
while :; do
    for job in "$spool"/*.sh; do
        base=${job%.sh}
        mv "$job" "$base.run" 2>/dev/null || continue
        ( bash "$base.run" </dev/null; echo $? > "$base.rc.part"; mv "$base.rc.part" "$base.rc" ) &
    done
    sleep 0.01
done
