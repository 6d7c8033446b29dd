import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {redactTree} from '../../src/agent/redact-tree.js'

export default class AgentRedact extends BaseCommand {
  static summary = "Replace a playbook's secret values with ******** in every file under the given folders."
  static description = 'Used by "fleet collect-logs" on the instructor\'s machine for the files it fetched as they were on the hosts. Prints {files, changed} with --json. The secrets themselves are never printed.'
  static strict = false
  static args = {dir: Args.string({required: true, description: 'A folder to redact in place (more may follow).'})}
  static flags = {
    playbook: Flags.string({char: 'p', required: true, description: 'The playbook whose secret vars to redact.'}),
    vars: Flags.string({description: "A YAML file of values for the playbook's vars (where the secrets usually are)."}),
    json: Flags.boolean({description: 'Print {files, changed}.'}),
  }

  async run(): Promise<void> {
    const {flags, argv} = await this.parse(AgentRedact)
    const r = redactTree(flags.playbook, flags.vars, argv as string[])
    if (flags.json) this.printJson(r)
    else process.stdout.write(`${r.changed} of ${r.files} files had secrets; they are redacted now.\n`)
  }
}
