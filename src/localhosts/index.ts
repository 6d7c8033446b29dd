export {startLocalHosts, localHostAddress, MAX_HOSTS, type LocalHost, type LocalHostSet, type LocalHostsOptions} from './local-hosts.js'
export {deleteAccounts as deleteLocalHostAccounts} from './users.js'
export {generateEd25519} from './keys.js'
