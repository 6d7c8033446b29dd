/**
 * Where local hosts listen. Host `index` (1-based) of the set in address block `slot`
 * is 127.B.X.Y with B = 77 + slot and X.Y the index (254 per X), and every host of a set
 * uses the same port. One block per set running at the same time on this machine (the
 * slot, see run-state.ts), so sets never share an address and a set scales to 65,024 hosts.
 */

/** TCP port every host listens on (each on its own address) unless the options name one. */
export const DEFAULT_PORT = 2022
const FIRST_OCTET = 77
/** Address blocks: how many sets can run at the same time on one machine. */
export const MAX_SLOTS = 100
const PER_X = 254
export const MAX_HOSTS = 256 * PER_X

/** Loopback address of host `index` (1-based) in slot `slot`. */
export function localHostAddress(slot: number, index: number): string {
  const i = index - 1
  return `127.${FIRST_OCTET + slot}.${Math.floor(i / PER_X)}.${(i % PER_X) + 1}`
}
