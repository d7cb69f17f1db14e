/** The web server's public surface, for the composition root. */

export type {
  BudgetView,
  HttpCommands,
  HttpEngine,
  HttpStores,
  OAuthLinking,
  OAuthTokenSet,
  ReconcileReport,
  TradovateExtras,
  TransportView,
} from './ports.js';
export {
  createHttpServer,
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  type HttpServer,
  type HttpServerOptions,
} from './server.js';
export type { Viewer } from './session.js';
export { createLinkIssuer, type LinkIssuerOptions } from './tokens.js';
export {
  type CreatedSource,
  createWebhookSource,
  deleteWebhookSource,
  type NewSourceInput,
} from './webhook-sources.js';
