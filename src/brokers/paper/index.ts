/** The paper venue: an in-process exchange and the broker port over it. */
export { PaperBroker, type PaperBrokerOptions } from './broker.js';
export {
  type ExchangeAccount,
  type ExchangeContract,
  type ExchangeEvent,
  type ExchangeEventKind,
  type ExchangeFailureReason,
  type ExchangeFill,
  type ExchangeListener,
  type ExchangeOrder,
  type ExchangePosition,
  type ExchangeRejection,
  type ExchangeResult,
  type ModifyOrderChanges,
  nextPosition,
  type OsoBrackets,
  type OsoLevel,
  PaperExchange,
  type PaperExchangeOptions,
  type PlacedOso,
  type PlaceOrderRequest,
} from './exchange.js';
