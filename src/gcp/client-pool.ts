/** Google clients built once per project and identity: the operator's own, or a tenant's impersonated service account, shared by all its environments. */
import type { AuthClient, Impersonated } from 'google-auth-library';
import { createGcpClients, type GcpClients } from './clients.js';
import { impersonatedClient } from './impersonation.js';

export interface ClientPoolOptions {
  endpoint?: string;
  timeoutMs: number;
  userAgent?: string;
  /** Where impersonation starts (see sourceCredential); needed only when some identity is asked for. */
  source?: AuthClient;
}

export class GcpClientPool {
  private readonly clients = new Map<string, GcpClients>();
  private readonly identities = new Map<string, Impersonated>();

  constructor(private readonly options: ClientPoolOptions) {}

  /** The clients of `project`, acting as `identity` (a service account email) or, when undefined, as the operator. */
  clientsFor(project: string, identity?: string): GcpClients {
    const key = `${project} ${identity ?? ''}`;
    let c = this.clients.get(key);
    if (!c) {
      const { endpoint, timeoutMs, userAgent } = this.options;
      c = createGcpClients({ projectId: project, timeoutMs, ...(endpoint ? { endpoint } : {}), ...(userAgent ? { userAgent } : {}), ...(identity ? { authClient: this.identity(identity) } : {}) });
      this.clients.set(key, c);
    }
    return c;
  }

  private identity(serviceAccount: string): Impersonated {
    let client = this.identities.get(serviceAccount);
    if (!client) {
      if (!this.options.source) throw new Error(`cannot act as ${serviceAccount}: no source credential to impersonate it from`);
      client = impersonatedClient(this.options.source, serviceAccount, this.options.endpoint, this.options.timeoutMs);
      this.identities.set(serviceAccount, client);
    }
    return client;
  }
}
