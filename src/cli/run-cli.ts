import {sayUserError, UserError} from '../errors/user-error.js'
import {quietOnClosedReader} from '../ui/closed-reader.js'

/**
 * An entry point's main: the command's fast path (no oclif) when it takes the
 * arguments, else oclif, loaded only then. `loadOclif` must also set the entry's
 * exported COMMANDS: oclif imports the entry module again to find them there.
 * Not awaited at top level for the same reason.
 */
export function runCli(url: string, fast: (argv: string[]) => Promise<boolean>, loadOclif: () => Promise<{runOclif: (url: string) => Promise<void>}>): void {
  quietOnClosedReader(process.stdout)
  quietOnClosedReader(process.stderr)
  const main = async () => {
    if (await fast(process.argv.slice(2))) return
    await (await loadOclif()).runOclif(url)
  }
  main().catch((e: Error & {oclif?: {exit?: number}}) => {
    // A UserError here is one said before any command ran (e.g. the shipped agent lacks oclif).
    if (e instanceof UserError) return sayUserError(e)
    process.stderr.write(`${e.message}\n`)
    process.exitCode = e.oclif?.exit ?? 1
  })
}
