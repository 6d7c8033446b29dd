import {describe, expect, it} from 'vitest'
import type {HostRow} from '../../src/store/store.js'
import {errorSignature, foldHosts, groupErrors, HostNames, isGenericError, normaliseLine, type HostFailure} from '../../src/ui/error-signature.js'
import {hostFailures} from '../../src/ui/room-errors.js'
import {buildReport, renderReport} from '../../src/ui/status-view.js'

// The room's own host names: an error naming one of them says nothing about the fault.
const ROOM = ['alice-lab', 'bob-lab', 'carol-lab', 'dave-lab', 'erin-lab', 'fleet-h001', 'fleet-h002']

interface Case {
  error: string
  step?: string | null
  tail?: string[]
}

const c = (x: string | Case): Case => (typeof x === 'string' ? {error: x} : x)
const sig = (x: string | Case) => errorSignature(c(x).error, {hosts: ROOM, step: c(x).step, tail: c(x).tail})

/** Two hosts' errors that differ as text (so the assertion can fail) and must share a signature. */
function same(a: string | Case, b: string | Case): void {
  expect(JSON.stringify(c(a))).not.toBe(JSON.stringify(c(b)))
  expect(sig(a), `${c(a).error}\n${c(b).error}`).toBe(sig(b))
}

/** Two different faults: different signatures. */
function different(a: string | Case, b: string | Case): void {
  expect(sig(a), `${c(a).error}\n${c(b).error}`).not.toBe(sig(b))
}

// Real error lines, as the tools print them.
const APT_404 = (ip: string) => `E: Failed to fetch http://${ip}:3142/ubuntu/pool/main/i/ironic/python3-ironic_21.4.0-0ubuntu1_all.deb  404  Not Found [IP: ${ip} 3142]`
const APT_LOCK = (pid: number) => `E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process ${pid} (apt)`
const APT_DNS = "Temporary failure resolving 'archive.ubuntu.com'"
const PIP_VERSION = 'ERROR: Could not find a version that satisfies the requirement ironic==21.4.0 (from versions: 20.1.0, 21.0.0, 21.1.0)'
const PIP_TIMEOUT = (t: number) => `ReadTimeoutError: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out. (read timeout=${t})`
const GIT_TIMEOUT = (ms: number) => `fatal: unable to access 'https://opendev.org/openstack/bifrost/': Failed to connect to opendev.org port 443 after ${ms} ms: Connection timed out`
const VIRT_MSR = (ts: string) =>
  `error: internal error: process exited while connecting to monitor: ${ts} qemu-system-x86_64: error: failed to set MSR 0x10a to 0x200000000000000`
const VIRT_NET = "error: Network not found: no network with matching name 'provisioning'"
const IPMI_SESSION = 'Error: Unable to establish IPMI v2 / RMCP+ session'
const IPMI_POWER = 'Unable to get Chassis Power Status'
const IRONIC_TIMEOUT = (node: string) => `Failed to deploy. Exception: Timeout reached while waiting for callback for node ${node}`
const IRONIC_IPMI = 'IPMI call failed: power status.'
const SSH_REFUSED = (ip: string) => `ssh: connect to host ${ip} port 22: Connection refused`
const SSH_DENIED = (login: string) => `${login}: Permission denied (publickey).`
// fleet's own (src/transport/ssh.ts): `${label}: cannot connect to ${host}:${port}: ${what} (${code})`, label user@host[:port].
const FLEET_REFUSED = (user: string, host: string, port = 22) => `${user}@${host}${port === 22 ? '' : `:${port}`}: cannot connect to ${host}:${port}: connection refused (ECONNREFUSED)`
const FLEET_NO_SESSION = (user: string, host: string) => `${user}@${host}: no SSH session with ${host}:22 within 15000 ms`
const FLEET_AUTH = (user: string, host: string) => `${user}@${host}: authentication failed: the host accepted none of the key /home/${user}/.ssh/id_ed25519`

describe('errorSignature: the same fault on two hosts is one signature', () => {
  it('apt: a 404 from two mirrors (address and port), a dpkg lock held by another pid', () => {
    same(APT_404('10.0.0.5'), APT_404('10.0.1.17'))
    same(APT_LOCK(12345), APT_LOCK(871))
  })

  it('pip and git: timeouts that differ in seconds and milliseconds', () => {
    same(PIP_TIMEOUT(15), PIP_TIMEOUT(30))
    same(GIT_TIMEOUT(130812), GIT_TIMEOUT(131044))
  })

  it('libvirt: the MSR failure at two timestamps; Ironic: the callback timeout on two nodes (UUIDs)', () => {
    same(VIRT_MSR('2026-11-24T09:12:33.123456Z'), VIRT_MSR('2026-11-24T10:01:07.998001Z'))
    same(IRONIC_TIMEOUT('1be26c0b-03f2-4d2d-a96a-95f8a1b9f1c0'), IRONIC_TIMEOUT('7f3e9a41-5c2b-4e8d-9b0a-2d6c1e4f8a37'))
  })

  it('ssh: refused at two addresses, IPv4 or IPv6; denied to two logins', () => {
    same(SSH_REFUSED('10.0.0.12'), SSH_REFUSED('10.0.0.13'))
    same(SSH_REFUSED('2001:db8::12'), SSH_REFUSED('fe80::5054:ff:fe12:3456%ens3'))
    same(SSH_DENIED('alice@10.0.0.12'), SSH_DENIED('bob@10.0.0.13'))
  })

  it("fleet's unreachable lines: each host's own login, address, port and name", () => {
    same(FLEET_REFUSED('fleet-h001', '127.77.0.1', 2022), FLEET_REFUSED('fleet-h002', '127.77.0.2', 2023))
    same(FLEET_REFUSED('ubuntu', 'alice-lab'), FLEET_REFUSED('ubuntu', 'bob-lab'))
    same(FLEET_REFUSED('ubuntu', 'alice-lab.room.example'), FLEET_REFUSED('ubuntu', 'bob-lab'))
    same(FLEET_NO_SESSION('alice', '10.0.0.21'), FLEET_NO_SESSION('bob', '[2001:db8::22]'))
    same(FLEET_AUTH('alice', '10.0.0.21'), FLEET_AUTH('bob', '10.0.0.22'))
  })

  it('paths under a home, temp files, syslog and kernel timestamps, MAC addresses, hex ids', () => {
    same("cp: cannot stat '/home/alice/ironic/etc/ironic.conf': No such file or directory", "cp: cannot stat '/root/bifrost/etc/ironic.conf': No such file or directory")
    same(
      "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device: '/tmp/pip-install-k3j2x9f_/ironic_4f2a9c1d/'",
      "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device: '/tmp/pip-install-q8w7e6r5/ironic_0b1c2d3e/'",
    )
    same('Nov 24 03:30:00 alice-lab dnsmasq[1234]: failed to bind DHCP server socket: Address already in use', 'Dec  3 17:02:41 bob-lab dnsmasq[998]: failed to bind DHCP server socket: Address already in use')
    same("mv: cannot move 'tmp.Ab3dEf9Gh1' to '/etc/ironic/ironic.conf': Permission denied", "mv: cannot move 'tmp.q0Zx81Lm2P' to '/etc/ironic/ironic.conf': Permission denied")
    same("[Errno 13] Permission denied: '/var/lib/ironic/master_images/tmpk3j2_x9f'", "[Errno 13] Permission denied: '/var/lib/ironic/master_images/tmp8a_wq0zd'")
    same('[12345.678901] kvm: disabled by bios', '[  88.004211] kvm: disabled by bios')
    same('dnsmasq-dhcp[2231]: DHCPDISCOVER(br-prov) 52:54:00:12:34:56 no address available', 'dnsmasq-dhcp[877]: DHCPDISCOVER(br-prov) 52:54:00:ab:cd:ef no address available')
    same(
      "following the agent's run 20261124T033000Z-1a2b3c ended with exit code 3 before the run did (bundle 9f8e7d6c5b4a)",
      "following the agent's run 20261124T041512Z-f00d42 ended with exit code 3 before the run did (bundle 9f8e7d6c5b4a)",
    )
  })

  it('a host name of the room in the error, as a word or the first label of a DNS name', () => {
    same('error: failed to connect to the hypervisor on alice-lab: Connection refused', 'error: failed to connect to the hypervisor on carol-lab: Connection refused')
    same("curl: (6) Could not resolve host: alice-lab.room.example", "curl: (6) Could not resolve host: dave-lab.room.example")
  })

  it('an error line the agent cut at 500 characters, at a point that moved with the address before it', () => {
    const cut = (ip: string) =>
      `E: Failed to fetch http://${ip}:3142/ubuntu/dists/noble/InRelease  Connection failed [IP: ${ip} 3142] ${'W: Some index files failed to download. They have been ignored, or old ones used instead. '.repeat(6)}`.slice(0, 500)
    expect(cut('10.0.0.5').slice(-20)).not.toBe(cut('10.100.200.250').slice(-20))
    same(cut('10.0.0.5'), cut('10.100.200.250'))
  })

  it('a run\'s "STEP: " prefix is dropped when the step is known', () => {
    same({error: `apt-install: ${APT_LOCK(1)}`, step: 'apt-install'}, {error: APT_LOCK(2), step: 'apt-install'})
  })

  it('a generic error line: the log lines before it carry the signature', () => {
    const a = {error: 'exit code 1', step: 'ipmi-power', tail: ['+ ipmitool -I lanplus -H 10.0.0.101 -U admin -P *** chassis power status', IPMI_SESSION, '']}
    const b = {error: 'exit code 1', step: 'ipmi-power', tail: ['+ ipmitool -I lanplus -H 10.0.0.102 -U admin -P *** chassis power status', IPMI_SESSION]}
    same(a, b)
    expect(sig(a)).toContain('Unable to establish IPMI')
  })
})

describe('errorSignature: different faults are different signatures', () => {
  it('apt: 404 vs a held lock vs no DNS', () => {
    different(APT_404('10.0.0.5'), APT_LOCK(12345))
    different(APT_404('10.0.0.5'), APT_DNS)
    different(APT_LOCK(12345), APT_LOCK(12345).replace('(apt)', '(unattended-upgr)'))
  })

  it('pip: no such version vs a read timeout; git vs pip timeouts', () => {
    different(PIP_VERSION, PIP_TIMEOUT(15))
    different(PIP_VERSION, PIP_VERSION.replace('ironic', 'ironic-lib'))
    different(GIT_TIMEOUT(130812), PIP_TIMEOUT(15))
  })

  it('libvirt: the MSR failure vs a missing network vs the domain that did not start', () => {
    different(VIRT_MSR('2026-11-24T09:12:33.123456Z'), VIRT_NET)
    different(VIRT_NET, "error: Failed to start domain 'controller00'")
  })

  it('ipmitool: no session vs no power status; Ironic: callback timeout vs IPMI failure', () => {
    different(IPMI_SESSION, IPMI_POWER)
    different(IRONIC_TIMEOUT('1be26c0b-03f2-4d2d-a96a-95f8a1b9f1c0'), IRONIC_IPMI)
  })

  it('ssh: refused vs permission denied; fleet: refused vs no session vs auth failed', () => {
    different(SSH_REFUSED('10.0.0.12'), SSH_DENIED('alice@10.0.0.12'))
    different(FLEET_REFUSED('alice', '10.0.0.21'), FLEET_NO_SESSION('alice', '10.0.0.21'))
    different(FLEET_NO_SESSION('alice', '10.0.0.21'), FLEET_AUTH('alice', '10.0.0.21'))
  })

  it('a generic error line with different log lines before it', () => {
    different({error: 'exit code 1', step: 'ipmi', tail: [IPMI_SESSION]}, {error: 'exit code 1', step: 'ipmi', tail: [IPMI_POWER]})
    // A specific error line stands by itself: the log lines are not read into it.
    same({error: IPMI_POWER, tail: ['a']}, {error: IPMI_POWER, tail: ['b']})
  })
})

describe('normaliseLine and isGenericError', () => {
  it('puts each kind of difference into its placeholder', () => {
    const hosts = undefined
    expect(normaliseLine(APT_404('10.0.0.5'), hosts)).toBe('E: Failed to fetch http://<ip>/ubuntu/pool/main/i/ironic/python3-ironic_<n>-<n>ubuntu1_all.deb <n> Not Found [IP: <ip> <n>]')
    expect(normaliseLine(GIT_TIMEOUT(130812))).toContain('port <n> after <dur>: Connection timed out')
    expect(normaliseLine(IRONIC_TIMEOUT('1be26c0b-03f2-4d2d-a96a-95f8a1b9f1c0'))).toBe('Failed to deploy. Exception: Timeout reached while waiting for callback for node <uuid>')
    expect(normaliseLine(VIRT_MSR('2026-11-24T09:12:33.123456Z'))).toBe('error: internal error: process exited while connecting to monitor: <time> qemu-system-x86_64: error: failed to set MSR <hex> to <hex>')
    expect(normaliseLine('open /root/.ssh/id_ed25519 or /home/bob/x: denied; /tmp/tmpk3j2_x9f/a.log')).toBe('open <home-path> or <home-path>: denied; <tmp-path>')
    expect(normaliseLine('2026-11-24 03:30:00,123 ERROR [ironic] x / 03:30:00.123 y')).toBe('<time> ERROR [ironic] x / <time> y')
    // Words with digits in them stay: they are names, not counts.
    expect(normaliseLine("error: Failed to start domain 'controller00' on x86_64")).toBe("error: Failed to start domain 'controller00' on x86_64")
  })

  it('knows a generic error line from a telling one', () => {
    for (const g of ['exit code 1', 'exit code SIGKILL', 'verify failed: exit 2', 'Error: Process completed with exit code 100.', 'make: *** [Makefile:12: all] Error 2', 'command failed', ''])
      expect(isGenericError(g), g).toBe(true)
    for (const t of [APT_DNS, IPMI_POWER, 'exit code 1 while resolving archive.ubuntu.com']) expect(isGenericError(t), t).toBe(false)
    expect(isGenericError('apt-update: exit code 100', 'apt-update')).toBe(true)
  })
})

describe('groupErrors', () => {
  it('groups by (step, signature), most hosts first, one verbatim example, the hosts folded', () => {
    const failures: HostFailure[] = [
      {host: 'alice-lab', step: 'apt', error: APT_LOCK(4101)},
      {host: 'bob-lab', step: 'apt', error: APT_404('10.0.0.5')},
      {host: 'carol-lab', step: 'apt', error: APT_404('10.0.0.6')},
      {host: 'dave-lab', step: 'apt', error: APT_404('10.0.0.7')},
      {host: 'erin-lab', step: 'apt', error: APT_404('10.0.0.8')},
      {host: 'frank-lab', step: 'apt', error: APT_404('10.0.0.9')},
      {host: 'grace-lab', step: 'apt', error: APT_LOCK(977)},
      // The same line in another step is another fault.
      {host: 'heidi-lab', step: 'apt-again', error: APT_404('10.0.0.10')},
    ]
    const groups = groupErrors(failures)
    expect(groups.map((g) => [g.count, g.step, g.hosts])).toEqual([
      [5, 'apt', ['bob-lab', 'carol-lab', 'dave-lab', 'erin-lab', 'frank-lab']],
      [2, 'apt', ['alice-lab', 'grace-lab']],
      [1, 'apt-again', ['heidi-lab']],
    ])
    expect(groups[0]).toMatchObject({state: 'failed', error: APT_404('10.0.0.5'), label: 'bob-lab, carol-lab +3', detail: []})
    expect(groups[0].signature).toContain('<n> Not Found [IP: <ip> <n>]')
    expect(groups[1]).toMatchObject({error: APT_LOCK(4101), label: 'alice-lab, grace-lab'})
    expect(groups[2].label).toBe('heidi-lab')
  })

  it('keeps unreachable hosts apart from failed ones with the same line; equal counts keep their first-seen order', () => {
    const groups = groupErrors([
      {host: 'a', step: null, error: SSH_REFUSED('10.0.0.1'), state: 'unreachable'},
      {host: 'b', step: null, error: SSH_REFUSED('10.0.0.2'), state: 'failed'},
      {host: 'c', step: null, error: SSH_REFUSED('10.0.0.3'), state: 'unreachable'},
      {host: 'd', step: null, error: SSH_REFUSED('10.0.0.4')},
    ])
    expect(groups.map((g) => [g.state, g.hosts])).toEqual([
      ['unreachable', ['a', 'c']],
      ['failed', ['b', 'd']],
    ])
    const tie = groupErrors([
      {host: 'x', step: 's', error: IPMI_POWER},
      {host: 'y', step: 's', error: IPMI_SESSION},
    ])
    expect(tie.map((g) => g.hosts[0])).toEqual(['x', 'y'])
  })

  it("normalises the failures' own host names, and the names given", () => {
    const groups = groupErrors(
      [
        {host: 'lab-07', step: 'virt', error: 'error: failed to connect to the hypervisor on lab-07'},
        {host: 'lab-12', step: 'virt', error: 'error: failed to connect to the hypervisor on lab-12'},
        {host: 'lab-13', step: 'virt', error: 'error: failed to connect to the hypervisor on lab-99'},
      ],
      {hosts: ['lab-99']},
    )
    expect(groups.map((g) => g.count)).toEqual([3])
    expect(groups[0].signature).toBe('error: failed to connect to the hypervisor on <host>')
  })

  it('shows the log lines behind a generic error as the detail: those that read as a reason, else the last', () => {
    const [g] = groupErrors([{host: 'a', step: 'bmc', error: 'bmc: exit code 1', tail: ['+ ipmitool power status', `  ${IPMI_POWER}  `, 'Done.', '']}])
    expect(g.detail).toEqual([IPMI_POWER])
    expect(g.error).toBe('bmc: exit code 1')
    const [two] = groupErrors([{host: 'a', step: 'virt', error: 'exit code 1', tail: ["error: Failed to start domain 'controller00'", VIRT_NET]}])
    expect(two.detail).toEqual(["error: Failed to start domain 'controller00'", VIRT_NET])
    const [plain] = groupErrors([{host: 'a', step: 'x', error: 'exit code 3', tail: ['step one', 'step two', '']}])
    expect(plain.detail).toEqual(['step two'])
  })
})

describe('HostNames', () => {
  it('takes names, not addresses given as names (IPv4, IPv6, bracketed, with a zone), hex-looking names included', () => {
    const addresses = ['10.0.0.5', '::1', 'fe80::1', '[fe80::1]', 'fe80::1%eth0', '::ffff:10.0.0.5', 'FE80::A']
    const names = ['cafe', 'bad.face', 'fe80', 'lab-07', '10.0.0', 'a.b.c.d', '1.2.3.4.5']
    const h = new HostNames([...addresses, ...names])
    expect(h.size).toBe(names.length)
    for (const n of names) expect(h.replace(`on ${n} now`), n).toBe('on <host> now')
  })
})

describe('foldHosts', () => {
  it('the first two names, then +N', () => {
    expect(foldHosts([])).toBe('')
    expect(foldHosts(['alice-lab'])).toBe('alice-lab')
    expect(foldHosts(['alice-lab', 'bob-lab'])).toBe('alice-lab, bob-lab')
    expect(foldHosts(['alice-lab', 'bob-lab', 'carol-lab'])).toBe('alice-lab, bob-lab +1')
    expect(foldHosts(['alice-lab', 'bob-lab', 'c', 'd', 'e', 'f', 'g'])).toBe('alice-lab, bob-lab +5')
  })
})

describe('fleet status: error groups from host rows', () => {
  const row = (id: number, name: string, state: HostRow['state'], error: string | null, step: string | null = null): HostRow => ({
    id, name, address: `10.0.0.${id}`, port: 22, user: 'ubuntu', transport: 'ssh', host_key: null, state, fleet_run: 1, agent_run: step ? 'r1' : null, agent_mode: 'run',
    last_seq: 0, step_id: step, step_index: step ? 3 : null, step_total: 8, step_title: step, error, started_at: null, ended_at: null, last_seen: null,
  })
  const rows = [
    row(1, 'alice-lab', 'failed', `apt: ${APT_404('10.0.0.5')}`, 'apt'),
    row(2, 'bob-lab', 'failed', `apt: ${APT_404('10.0.0.6')}`, 'apt'),
    row(3, 'carol-lab', 'failed', `apt: ${APT_404('10.0.0.7')}`, 'apt'),
    row(4, 'dave-lab', 'unreachable', FLEET_REFUSED('ubuntu', '10.0.0.4'), 'apt'),
    row(5, 'erin-lab', 'ok', null, 'apt'),
    row(6, 'frank-lab', 'failed', 'bmc: exit code 1', 'bmc'),
    row(7, 'grace-lab', 'failed', 'only 12 MB free in the login\'s home (need 200 MB)', 'apt'),
  ]

  it('finds the failed step from the run\'s "STEP: " error, and reads a tail only for a generic one', () => {
    const asked: string[] = []
    const failures = hostFailures(rows, (h, step) => (asked.push(`${h.name}/${step}`), [IPMI_POWER]))
    expect(asked).toEqual(['frank-lab/bmc'])
    expect(failures.map((f) => [f.host, f.state, f.step])).toEqual([
      ['alice-lab', 'failed', 'apt'],
      ['bob-lab', 'failed', 'apt'],
      ['carol-lab', 'failed', 'apt'],
      ['dave-lab', 'unreachable', null],
      ['frank-lab', 'failed', 'bmc'],
      // Its error is not the step's: the host failed before the step ran.
      ['grace-lab', 'failed', null],
    ])
  })

  it('buildReport groups them and renderReport shows failed and unreachable apart, folded', () => {
    const report = buildReport(rows, Date.now(), {errorTails: () => [IPMI_POWER]})
    expect(report.error_groups.map((g) => [g.state, g.count, g.step, g.label])).toEqual([
      ['failed', 3, 'apt', 'alice-lab, bob-lab +1'],
      ['unreachable', 1, null, 'dave-lab'],
      ['failed', 1, 'bmc', 'frank-lab'],
      ['failed', 1, null, 'grace-lab'],
    ])
    const text = renderReport(report, 200)
    const failedAt = text.indexOf('Failed hosts by error')
    const unreachableAt = text.indexOf('Unreachable hosts by error')
    expect(failedAt).toBeGreaterThan(0)
    expect(unreachableAt).toBeGreaterThan(failedAt)
    expect(text.slice(failedAt, unreachableAt)).toMatch(/^ {2}3 +apt +alice-lab, bob-lab \+1 +apt: E: Failed to fetch http:\/\/10\.0\.0\.5:3142\//m)
    expect(text.slice(failedAt, unreachableAt)).toContain(`bmc: exit code 1 (${IPMI_POWER})`)
    expect(text.slice(unreachableAt)).toMatch(/^ {2}1 +- +dave-lab +ubuntu@10\.0\.0\.4: cannot connect/m)
  })
})
