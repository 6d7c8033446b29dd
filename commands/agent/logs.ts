import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {stateDirFlag, stateDirOf} from '../../src/command-kit/agent-flags.js'
import {logPaths, printLogPaths} from '../../src/agent/log-paths.js'

export default class AgentLogs extends BaseCommand {
  static summary = "Show where this host's logs are: the agent's state dir and the playbook's declared log paths."
  static description = `Prints the state dir (journals and step logs) and the playbook's \`logs:\` rendered for this host, as absolute paths (a relative path is taken from the home folder). This is what \`fleet collect-logs\` fetches. Paths are listed whether they exist or not.

Without --playbook, the playbook of the last run is used; without --vars, the vars file of the newest run of that playbook.

With --json it prints {state_dir, playbook, vars, paths, error}; when the playbook cannot be loaded, error says why, paths is empty and the exit code is 2.`
  static examples = ['<%= config.bin %> logs', '<%= config.bin %> logs --playbook playbooks/workshop.yaml --vars room.yaml --json']
  static flags = {
    playbook: Flags.string({char: 'p', description: "The playbook whose `logs:` to render [default: the last run's]."}),
    vars: Flags.string({description: "A YAML file of values for the playbook's vars [default: the one the newest run of the playbook used]."}),
    'state-dir': stateDirFlag,
    json: Flags.boolean({description: 'Print one JSON object.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentLogs)
    process.exitCode = printLogPaths(await logPaths({stateDir: stateDirOf(flags), playbook: flags.playbook, vars: flags.vars}), !!flags.json, (t) => process.stdout.write(t))
  }
}
