# /etc/cron.d/aptgate-agent: runs the agent on systems without systemd (with systemd,
# aptgate-agent.timer does, and this entry does nothing).
# Every 15 minutes, after a random delay of up to 5 minutes; output goes to syslog via logger.
*/15 * * * * root [ -x /usr/bin/aptgate-agent ] && [ ! -d /run/systemd/system ] && /usr/bin/aptgate-agent run-once --random-delay 300 2>&1 | logger -t aptgate-agent
