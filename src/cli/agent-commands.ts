import AgentFollow from '../../commands/agent/follow.js'
import AgentLogs from '../../commands/agent/logs.js'
import AgentRedact from '../../commands/agent/redact.js'
import AgentRun from '../../commands/agent/run.js'
import AgentStart from '../../commands/agent/start.js'
import AgentStatus from '../../commands/agent/status.js'
import AgentUndo from '../../commands/agent/undo.js'

/** The agent's commands, listed explicitly so the agent bundles into one file. */
export const COMMANDS = {
  run: AgentRun,
  start: AgentStart,
  follow: AgentFollow,
  status: AgentStatus,
  undo: AgentUndo,
  logs: AgentLogs,
  redact: AgentRedact,
}
