#!/bin/sh
# mpac-agent from the package's virtualenv, reading the packaged configuration unless told otherwise.
: "${MPAC_AGENT_CONFIG:=/etc/mpac-agent/agent.toml}"
export MPAC_AGENT_CONFIG
exec /opt/mpac-agent/bin/mpac-agent "$@"
