import {existsSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/base-command.js'
import {dbFlag, jsonFlag} from '../../src/cli/fleet-flags.js'
import {FleetStore} from '../../src/store/store.js'
import {buildReport, renderHost, renderReport} from '../../src/ui/status-view.js'
import {UserError} from '../../src/errors/user-error.js'

export default class Status extends BaseCommand {
  static summary = 'Where every host is, at a glance; or one host in depth.'
  static description = `A line of counts (pending, connecting, running, ok, failed, unreachable), then one row per host: its current step "k/N title", state, elapsed time and last error line. Identical errors on several hosts are grouped. --host shows that host's steps with durations and the last lines of its failing step.

Exit code 0 when every host is ok, 1 otherwise.`
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --host alice-lab', '<%= config.bin %> status --json | jq .counts', '<%= config.bin %> status --watch']
  static flags = {
    db: dbFlag,
    host: Flags.string({description: "Show this host's steps and the tail of its failing step's log."}),
    json: jsonFlag,
    watch: Flags.boolean({description: 'Refresh every second until every host is done (Ctrl-C stops).'}),
    lines: Flags.integer({description: 'Log lines to show with --host.', default: 20}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Status)
    if (!existsSync(flags.db)) throw new UserError(`${flags.db}: no fleet database here yet; run "fleet prepare --hosts FILE" first (or give --db).`)
    const store = FleetStore.open(flags.db)
    try {
      for (;;) {
        const text = flags.host ? this.hostView(store, flags.host, flags.json, flags.lines) : this.roomView(store, flags.json)
        if (flags.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J')
        process.stdout.write(text.out)
        process.exitCode = text.allOk ? 0 : 1
        if (!flags.watch || text.done) break
        await new Promise((r) => setTimeout(r, 1000))
      }
    } finally {
      store.close()
    }
  }

  private roomView(store: FleetStore, json: boolean): {out: string; allOk: boolean; done: boolean} {
    const report = buildReport(store.hosts())
    const allOk = report.hosts.length > 0 && report.counts.ok === report.hosts.length
    const done = report.counts.pending + report.counts.connecting + report.counts.running === 0
    return {out: json ? JSON.stringify(report) + '\n' : renderReport(report), allOk, done}
  }

  private hostView(store: FleetStore, name: string, json: boolean, lines: number): {out: string; allOk: boolean; done: boolean} {
    const h = store.host(name)
    if (!h) throw new UserError(`--host: no host named "${name}" in ${store.path} (hosts: ${store.hosts().map((x) => x.name).slice(0, 10).join(', ')}).`)
    const steps = h.agent_run ? store.steps(h.id, h.agent_run) : []
    const failing = steps.find((s) => s.status === 'failed') ?? steps.find((s) => s.status === 'running')
    const tail = failing && h.agent_run ? {step: failing.step, text: store.logTail(h.id, h.agent_run, failing.step, lines)} : undefined
    const out = json ? JSON.stringify({host: h, steps, log_tail: tail}) + '\n' : renderHost(h, steps, tail)
    return {out, allOk: h.state === 'ok', done: !['pending', 'connecting', 'running'].includes(h.state)}
  }
}
