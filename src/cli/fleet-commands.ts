import Status from '../../commands/fleet/status.js'

/** fleet's commands, listed explicitly (oclif's "explicit" discovery). */
export const COMMANDS = {
  status: Status,
}
