import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/command-kit/base-command.js'
import {dbFlag} from '../../src/command-kit/fleet-flags.js'
import {serveDashboard} from '../../src/dashboard/serve.js'

export default class Dashboard extends BaseCommand {
  static summary = "The room's live page in a browser: counts, a grid of hosts × steps, ETAs, grouped errors, one host in depth."
  static description = `Serves a read-only web page from the database while "fleet prepare" runs (in another terminal) or after it: counts by state, a grid of every host's steps (state and duration, the running one animated), each host's ETA and the room's, the errors grouped, and for one host its steps, the failing step's last 50 log lines and its live output. /host/NAME is one host's page, for a participant's phone. Updates arrive as they are stored (Server-Sent Events; a page that reconnects gets what it missed).

It binds 127.0.0.1 unless --listen says otherwise; any address that is not loopback needs a token on every request (generated and printed with the URL, or --token). GET only. Ctrl-C stops it.`
  static examples = ['<%= config.bin %> dashboard', '<%= config.bin %> dashboard --listen 0.0.0.0:8080', '<%= config.bin %> dashboard --db room.db --listen 10.0.0.5:8080 --token "$ROOM_TOKEN"']
  static flags = {
    db: dbFlag,
    listen: Flags.string({description: 'HOST:PORT to serve on; an address that is not loopback (0.0.0.0, a LAN address) requires a token. Port 0: any free port.', default: '127.0.0.1:8080'}),
    token: Flags.string({description: 'The token every request must carry (?token= or Authorization: Bearer), at least 12 URL-safe characters [default: none on loopback, else generated].'}),
    open: Flags.boolean({description: 'Print the URL to open first, on a line of its own (no browser is started: fleet usually runs where there is none).'}),
    json: Flags.boolean({description: 'Once listening, print {url, listen, db, token} as one JSON line, and nothing else.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Dashboard)
    await serveDashboard({db: flags.db, listen: flags.listen, token: flags.token, open: flags.open, json: flags.json}, (t) => process.stdout.write(t))
  }
}
