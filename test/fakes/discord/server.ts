/**
 * A local stand-in for Discord that a real discord.js 14 client logs into: the REST routes a bot uses
 * (API v10, under `/api`) and the gateway protocol (HELLO, heartbeats, IDENTIFY → READY and
 * GUILD_CREATE, RESUME, dispatches), both on one port of 127.0.0.1. Every REST call is recorded;
 * tests push gateway events with {@link FakeDiscord.sendInteraction}, {@link FakeDiscord.sendMessage}
 * and {@link FakeDiscord.pressButton}, then wait on what the bot sent with {@link FakeDiscord.waitForCall}.
 *
 * It keeps the platform behaviours a bot can get wrong: a second acknowledgement of one interaction is
 * refused (40060), the first follow-up to a deferred response replaces the loading message and keeps
 * its visibility, payloads over Discord's size limits are refused (50035), and a 204 carries no
 * content-type (discord.js would try to parse an empty JSON body otherwise).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { choiceViolations, commandViolations, messageViolations } from './limits.js';

/** Discord payloads are free-form JSON that tests read field by field. */
// biome-ignore lint/suspicious/noExplicitAny: one alias instead of a type for every Discord object.
type Json = any;

/** A Discord user as the fake knows it. */
export interface FakeUser {
  readonly id: string;
  readonly username: string;
  readonly globalName?: string;
  readonly bot?: boolean;
}

export interface FakeChannel {
  readonly id: string;
  readonly name: string;
}

export interface FakeDiscordOptions {
  /** The bot token the client must log in with. */
  readonly token?: string;
  readonly applicationId?: string;
  readonly guildId?: string;
  /** Guild text channels, sent in GUILD_CREATE. */
  readonly channels?: readonly FakeChannel[];
  /** Gateway heartbeat interval; large by default so tests never depend on one. */
  readonly heartbeatIntervalMs?: number;
}

export interface FakeFile {
  readonly filename: string;
  readonly text: string;
}

/** One delivery of an interaction: its id and its token (unique per delivery). */
export interface InteractionHandle {
  readonly id: string;
  readonly token: string;
}

/** One REST request as the bot sent it. */
export interface RecordedCall {
  readonly seq: number;
  readonly method: string;
  /** The path after `/api/v10`, each segment URL-decoded (`@original`, not `%40original`). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The JSON body (`payload_json` for multipart requests); null when there was none. */
  readonly body: Json;
  readonly files: readonly FakeFile[];
  readonly status: number;
  /** The token of the interaction delivery a callback or webhook call belongs to, when the fake knows it. */
  readonly interactionToken: string | null;
}

/** A message as it stands in the fake, after every edit. */
export interface FakeMessage {
  readonly id: string;
  readonly channelId: string;
  readonly author: FakeUser;
  content: string;
  embeds: Json[];
  components: Json[];
  /** 64 = ephemeral (only the interaction's user sees it). */
  flags: number;
  attachments: FakeFile[];
  /** A deferred response still showing "thinking…". */
  loading: boolean;
  /** Custom ids of buttons the message carried before its last edits (a client may still show them). */
  readonly pastButtonIds: Set<string>;
  deleted: boolean;
  edits: number;
  /** The token of the interaction delivery this message answers; null for channel messages. */
  readonly interactionToken: string | null;
  readonly referencedMessageId: string | null;
  readonly createdAt: Date;
  editedAt: Date | null;
}

interface InteractionState {
  readonly id: string;
  readonly token: string;
  readonly type: number;
  readonly user: FakeUser;
  readonly channelId: string;
  /** For component interactions: the message the component is on. */
  readonly componentMessageId: string | null;
  acknowledged: boolean;
  /** The callback type of the acknowledgement (4 reply, 5 deferred reply, 6 deferred update, 7 update, 8 choices). */
  ackType: number | null;
  originalMessageId: string | null;
  choices: Json[] | null;
}

/** An option of a chat-input interaction: its registered type decides how the value is sent. */
export type OptionValue = string | number | boolean | FakeUser | FakeChannel;

/** Discord's epoch (2015-01-01), the zero of snowflake timestamps. */
const DISCORD_EPOCH = 1_420_070_400_000;
const EPHEMERAL = 64;
const LOADING = 128;

export class FakeDiscord {
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  readonly botUser: FakeUser;
  readonly calls: RecordedCall[] = [];
  /** Payloads refused for breaking Discord's limits: the route and the problems. */
  readonly violations: { path: string; problems: string[] }[] = [];
  /** Requests to routes the fake does not know. */
  readonly unhandled: string[] = [];
  readonly messages = new Map<string, FakeMessage>();
  /** Commands registered per scope: `global` or a guild id. */
  readonly commands = new Map<string, Json[]>();
  /** Gateway IDENTIFY payloads received (the intents the bot asked for, among others). */
  readonly identifies: Json[] = [];
  readonly resumes: number[] = [];

  private readonly channels: Map<string, FakeChannel & { dm?: FakeUser }>;
  private readonly users = new Map<string, FakeUser>();
  private readonly interactions = new Map<string, InteractionState>();
  private readonly sockets = new Set<WebSocket>();
  private readonly identified = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly heartbeatIntervalMs: number;
  private seq = 0;
  private callSeq = 0;
  private snowflake = BigInt(Date.now() - DISCORD_EPOCH) << 22n;
  /** The low bits of dated messages' ids, so two with the same time differ. */
  private datedIds = 0;
  private port = 0;
  private sessionId = randomBytes(8).toString('hex');

  private constructor(
    private readonly server: Server,
    options: FakeDiscordOptions,
  ) {
    this.token = options.token ?? 'fake-bot-token';
    this.applicationId = options.applicationId ?? this.nextId();
    this.guildId = options.guildId ?? this.nextId();
    this.botUser = { id: this.applicationId, username: 'tradecast', bot: true };
    this.users.set(this.botUser.id, this.botUser);
    this.channels = new Map((options.channels ?? []).map((c) => [c.id, c]));
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 45_000;
  }

  /** Start on 127.0.0.1 with a port the OS picks. */
  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const fake = new FakeDiscord(server, options);
    server.on('request', (req, res) => {
      fake.handleHttp(req, res).catch((error: unknown) => {
        fake.unhandled.push(`${req.method} ${req.url}: ${String(error)}`);
        if (!res.headersSent) fake.json(res, 500, { code: 0, message: String(error) });
      });
    });
    server.on('upgrade', (req, socket, head) => {
      fake.wss.handleUpgrade(req, socket, head, (ws) => fake.onSocket(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.port = (server.address() as AddressInfo).port;
    return fake;
  }

  /** What the bot passes as discord.js's `rest.api`. */
  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Make a user known to the fake (interactions and messages from them carry this profile). */
  user(id: string, username = `user${id}`): FakeUser {
    const known = this.users.get(id);
    if (known) return known;
    const user: FakeUser = { id, username, globalName: username };
    this.users.set(id, user);
    return user;
  }

  /** Whether a client has identified on the gateway and received READY. */
  get connected(): boolean {
    return this.identified.size > 0;
  }

  // ------------------------------------------------------------------------------------------------
  // Test helpers: gateway events

  /**
   * Dispatch a slash command. Option values are typed from the command the bot registered (so a test
   * naming an option the bot never declared fails here): numbers for integer options, users for user
   * options, channels for channel options. Returns the interaction id and token.
   */
  sendInteraction(input: {
    user: FakeUser;
    command: string;
    options?: Record<string, OptionValue | undefined>;
    channelId: string;
    /**
     * Deliver an earlier interaction again: its id, and its token (Discord then refuses the second
     * acknowledgement) or, when left out, a fresh token so both deliveries can answer.
     */
    replay?: { id: string; token?: string };
  }): InteractionHandle {
    const definition = this.registered(input.command);
    const options: Json[] = [];
    const resolved: {
      users?: Record<string, Json>;
      members?: Record<string, Json>;
      channels?: Record<string, Json>;
    } = {};
    for (const [name, value] of Object.entries(input.options ?? {})) {
      if (value === undefined) continue;
      const option = (definition.options ?? []).find((o: Json) => o.name === name);
      if (!option) throw new Error(`/${input.command} has no option ${name}`);
      if (option.type === 6) {
        const user = value as FakeUser;
        resolved.users = { ...resolved.users, [user.id]: this.apiUser(user) };
        resolved.members = { ...resolved.members, [user.id]: this.apiMember(null) };
        options.push({ name, type: 6, value: user.id });
      } else if (option.type === 7) {
        const channel = value as FakeChannel;
        resolved.channels = {
          ...resolved.channels,
          [channel.id]: { id: channel.id, name: channel.name, type: 0, permissions: '1099511627775' },
        };
        options.push({ name, type: 7, value: channel.id });
      } else {
        options.push({ name, type: option.type, value });
      }
    }
    const data = {
      id: definition.id,
      name: input.command,
      type: 1,
      guild_id: this.guildId,
      options,
      ...(Object.keys(resolved).length ? { resolved } : {}),
    };
    return this.dispatchInteraction(2, input.user, input.channelId, data, null, input.replay);
  }

  /** Dispatch an autocomplete request for one focused option of a command. */
  sendAutocomplete(input: {
    user: FakeUser;
    command: string;
    focused: string;
    value: string;
    options?: Record<string, string | number>;
    channelId: string;
  }): InteractionHandle {
    const definition = this.registered(input.command);
    const typeOf = (name: string) => (definition.options ?? []).find((o: Json) => o.name === name)?.type ?? 3;
    const options = [
      ...Object.entries(input.options ?? {}).map(([name, value]) => ({ name, type: typeOf(name), value })),
      { name: input.focused, type: typeOf(input.focused), value: input.value, focused: true },
    ];
    const data = { id: definition.id, name: input.command, type: 1, guild_id: this.guildId, options };
    return this.dispatchInteraction(4, input.user, input.channelId, data, null);
  }

  /**
   * Press a button: finds the newest message carrying `customId` (or, failing that, one that carried
   * it before an edit, as a client with a stale view could press) and dispatches the interaction.
   */
  pressButton(input: { user: FakeUser; customId: string }): InteractionHandle {
    const messages = [...this.messages.values()].reverse().filter((m) => !m.deleted);
    const message =
      messages.find((m) => buttonIds(m).includes(input.customId)) ??
      messages.find((m) => m.pastButtonIds.has(input.customId));
    if (!message) throw new Error(`no message carries a button ${input.customId}`);
    const data = { custom_id: input.customId, component_type: 2 };
    return this.dispatchInteraction(3, input.user, message.channelId, data, message);
  }

  /**
   * Dispatch MESSAGE_CREATE: a user (or bot) posting in a guild channel. `sentAt` (ms) dates the
   * message in the past, as an event delivered late (a resumed session replays missed events).
   */
  sendMessage(input: { user: FakeUser; channelId: string; content: string; sentAt?: number }): FakeMessage {
    const message = this.postWhileAway(input);
    this.dispatch('MESSAGE_CREATE', {
      ...this.apiMessage(message),
      guild_id: this.guildId,
      member: this.apiMember(null),
    });
    return message;
  }

  /**
   * A message posted while the bot is away (stopped, or between gateway sessions): it is in the
   * channel's history (`GET /channels/:id/messages`) but no gateway delivers it.
   */
  postWhileAway(input: {
    user: FakeUser;
    channelId: string;
    content: string;
    sentAt?: number;
    /** The message this one replies to. */
    replyTo?: string;
  }): FakeMessage {
    return this.store({
      ...(input.sentAt === undefined ? {} : { sentAt: input.sentAt }),
      channelId: input.channelId,
      author: input.user,
      content: input.content,
      embeds: [],
      components: [],
      flags: 0,
      attachments: [],
      interactionToken: null,
      referencedMessageId: input.replyTo ?? null,
    });
  }

  /** End the gateway session: a client that tries to RESUME it is told to identify anew (op 9). */
  expireSession(): void {
    this.sessionId = randomBytes(8).toString('hex');
  }

  /** Ask the connected client to reconnect (op 7); it comes back with RESUME. */
  requestReconnect(): void {
    for (const ws of this.identified) ws.send(JSON.stringify({ op: 7, d: null }));
  }

  // ------------------------------------------------------------------------------------------------
  // Test helpers: what the bot did

  /** Resolves with the first recorded call (from now or earlier) that matches. */
  async waitForCall(
    predicate: (call: RecordedCall) => boolean,
    what = 'a matching Discord API call',
    timeoutMs = 10_000,
  ): Promise<RecordedCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.calls.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) {
        const seen = this.calls.map((c) => `${c.method} ${c.path} ${c.status}`).join('\n  ');
        throw new Error(`timed out waiting for ${what}; calls so far:\n  ${seen}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Every call made for one interaction (its callback and webhook requests), oldest first. */
  callsFor(interaction: InteractionHandle): RecordedCall[] {
    return this.calls.filter((c) => c.interactionToken === interaction.token);
  }

  /** The interaction's original response message as it stands now (null before one exists). */
  original(interaction: InteractionHandle): FakeMessage | null {
    const id = this.interactions.get(interaction.token)?.originalMessageId;
    return id ? (this.messages.get(id) ?? null) : null;
  }

  /** Messages the bot posted in a channel (not interaction responses), oldest first. */
  channelMessages(channelId: string): FakeMessage[] {
    return [...this.messages.values()].filter(
      (m) => m.channelId === channelId && m.author.id === this.botUser.id && m.interactionToken === null,
    );
  }

  /** Messages of one interaction: the original response and its follow-ups, oldest first. */
  interactionMessages(interaction: InteractionHandle): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.interactionToken === interaction.token);
  }

  // ------------------------------------------------------------------------------------------------
  // Gateway

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.identified.delete(ws);
    });
    ws.on('message', (raw) => this.onGatewayFrame(ws, String(raw)));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } }));
  }

  private onGatewayFrame(ws: WebSocket, raw: string): void {
    const frame = JSON.parse(raw) as { op: number; d: Json };
    switch (frame.op) {
      case 1:
        ws.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        this.identifies.push(frame.d);
        if (frame.d?.token !== this.token) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        this.identified.add(ws);
        this.sendTo(ws, 'READY', {
          v: 10,
          user: this.apiUser(this.botUser),
          session_id: this.sessionId,
          resume_gateway_url: `ws://127.0.0.1:${this.port}`,
          guilds: [{ id: this.guildId, unavailable: true }],
          application: { id: this.applicationId, flags: 0 },
          shard: [0, 1],
        });
        this.sendTo(ws, 'GUILD_CREATE', this.apiGuild());
        return;
      }
      case 6:
        this.resumes.push(Number(frame.d?.seq ?? 0));
        if (frame.d?.token !== this.token || frame.d?.session_id !== this.sessionId) {
          ws.send(JSON.stringify({ op: 9, d: false }));
          return;
        }
        this.identified.add(ws);
        this.sendTo(ws, 'RESUMED', {});
        return;
      default:
        return;
    }
  }

  private sendTo(ws: WebSocket, t: string, d: unknown): void {
    ws.send(JSON.stringify({ op: 0, t, s: ++this.seq, d }));
  }

  private dispatch(t: string, d: unknown): void {
    if (this.identified.size === 0) throw new Error(`no client is connected to receive ${t}`);
    for (const ws of this.identified) this.sendTo(ws, t, d);
  }

  private dispatchInteraction(
    type: number,
    user: FakeUser,
    channelId: string,
    data: unknown,
    message: FakeMessage | null,
    replay?: { id: string; token?: string },
  ): InteractionHandle {
    this.users.set(user.id, user);
    const id = replay?.id ?? this.nextId();
    const token = replay?.token ?? `itoken-${randomBytes(12).toString('hex')}`;
    if (!this.interactions.has(token)) {
      this.interactions.set(token, {
        id,
        token,
        type,
        user,
        channelId,
        componentMessageId: message?.id ?? null,
        acknowledged: false,
        ackType: null,
        originalMessageId: null,
        choices: null,
      });
    }
    const channel = this.channels.get(channelId);
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      data,
      guild_id: this.guildId,
      channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: this.guildId, name: channel?.name ?? channelId },
      member: this.apiMember(user),
      ...(message ? { message: { ...this.apiMessage(message), guild_id: this.guildId } } : {}),
      app_permissions: '1099511627775',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { 0: this.guildId },
      context: 0,
    });
    return { id, token };
  }

  // ------------------------------------------------------------------------------------------------
  // REST

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`);
    const raw = await readBody(req);
    const prefix = '/api/v10';
    if (!url.pathname.startsWith(prefix)) {
      this.unhandled.push(`${req.method} ${url.pathname}`);
      return this.json(res, 404, { code: 0, message: '404: Not Found' });
    }
    // Discord.js percent-encodes `@original`; match on decoded segments.
    const segments = url.pathname
      .slice(prefix.length)
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    const path = `/${segments.join('/')}`;
    const { body, files } = await parseBody(req.headers['content-type'], raw);
    const method = req.method ?? 'GET';
    const record = (status: number, interactionToken: string | null = null) => {
      this.calls.push({
        seq: ++this.callSeq,
        method,
        path,
        query: url.searchParams,
        body,
        files,
        status,
        interactionToken,
      });
    };

    // Interaction callbacks and webhook calls go out without the bot token (discord.js `auth: false`).
    const [a, b, c, d, e] = segments;
    if (a === 'interactions' && c && d === 'callback' && method === 'POST') {
      return this.callback(res, c, body, files, url.searchParams, record);
    }
    if (a === 'webhooks' && b && c) {
      return this.webhook(res, method, c, d, e, body, files, record);
    }
    if (req.headers.authorization !== `Bot ${this.token}`) {
      record(401);
      return this.json(res, 401, { code: 0, message: '401: Unauthorized' });
    }

    if (method === 'GET' && path === '/gateway/bot') {
      record(200);
      return this.json(res, 200, {
        url: `ws://127.0.0.1:${this.port}`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (method === 'GET' && path === '/gateway') {
      record(200);
      return this.json(res, 200, { url: `ws://127.0.0.1:${this.port}` });
    }
    if (method === 'GET' && path === '/users/@me') {
      record(200);
      return this.json(res, 200, this.apiUser(this.botUser));
    }
    if (method === 'GET' && path === '/applications/@me') {
      record(200);
      return this.json(res, 200, {
        id: this.applicationId,
        name: 'tradecast',
        description: '',
        flags: 0,
        bot_public: false,
        bot_require_code_grant: false,
        verify_key: 'fake',
        bot: this.apiUser(this.botUser),
      });
    }
    const commandScope =
      a === 'applications' && b === this.applicationId
        ? c === 'commands' && !d
          ? 'global'
          : c === 'guilds' && d && e === 'commands'
            ? d
            : null
        : null;
    if (commandScope) {
      const scope = commandScope;
      if (method === 'PUT') {
        const problems = commandViolations(body);
        if (problems.length) return this.refuse(res, path, problems, record);
        const stored = (body as Json[]).map((cmd) => ({
          ...cmd,
          id: this.nextId(),
          application_id: this.applicationId,
          ...(scope === 'global' ? {} : { guild_id: scope }),
          version: this.nextId(),
          type: cmd.type ?? 1,
          default_member_permissions: cmd.default_member_permissions ?? null,
        }));
        this.commands.set(scope, stored);
        record(200);
        return this.json(res, 200, stored);
      }
      if (method === 'GET') {
        record(200);
        return this.json(res, 200, this.commands.get(scope) ?? []);
      }
    }
    if (a === 'users' && b === '@me' && c === 'channels' && method === 'POST') {
      const recipient = this.user(String((body as { recipient_id?: string }).recipient_id));
      const dm = { id: this.nextId(), name: `dm-${recipient.id}`, dm: recipient };
      this.channels.set(dm.id, dm);
      record(200);
      return this.json(res, 200, {
        id: dm.id,
        type: 1,
        last_message_id: null,
        recipients: [this.apiUser(recipient)],
      });
    }
    if (a === 'users' && b && !c && method === 'GET') {
      const user = this.users.get(b);
      record(user ? 200 : 404);
      return user
        ? this.json(res, 200, this.apiUser(user))
        : this.json(res, 404, { code: 10013, message: 'Unknown User' });
    }
    if (a === 'channels' && b) {
      const channel = this.channels.get(b);
      if (!channel) {
        record(404);
        return this.json(res, 404, { code: 10003, message: 'Unknown Channel' });
      }
      if (!c && method === 'GET') {
        record(200);
        return this.json(res, 200, this.apiChannel(channel));
      }
      if (c === 'typing' && method === 'POST') {
        record(204);
        return this.noContent(res);
      }
      if (c === 'messages' && !d && method === 'GET') {
        // A channel's history, newest first, as Discord answers: `limit` (1-100, default 50) and
        // at most one of `before` / `after` (message ids). Public interaction responses are in it;
        // ephemeral ones are not. REST message objects carry no `guild_id`.
        const query = url.searchParams;
        const limit = Number(query.get('limit') ?? 50);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
          return this.refuse(res, path, [`limit must be 1-100, got ${query.get('limit')}`], record);
        }
        const before = query.get('before');
        const after = query.get('after');
        const history = [...this.messages.values()]
          .filter(
            (m) =>
              m.channelId === b &&
              !m.deleted &&
              (m.flags & EPHEMERAL) === 0 &&
              (before === null || BigInt(m.id) < BigInt(before)) &&
              (after === null || BigInt(m.id) > BigInt(after)),
          )
          .sort((x, y) => (BigInt(y.id) > BigInt(x.id) ? 1 : -1));
        const page = after === null ? history.slice(0, limit) : history.slice(-limit);
        record(200);
        return this.json(
          res,
          200,
          page.map((m) => this.apiMessage(m)),
        );
      }
      if (c === 'messages' && !d && method === 'POST') {
        const problems = messageViolations(body);
        if (problems.length) return this.refuse(res, path, problems, record);
        const ref = (body as { message_reference?: { message_id?: string } }).message_reference;
        const message = this.store({
          channelId: b,
          author: this.botUser,
          ...messageFields(body, files),
          flags: 0,
          interactionToken: null,
          referencedMessageId: ref?.message_id ?? null,
        });
        record(200);
        return this.json(res, 200, this.apiMessage(message));
      }
      if (c === 'messages' && d && method === 'PATCH') {
        const message = this.messages.get(d);
        if (!message || message.channelId !== b) {
          record(404);
          return this.json(res, 404, { code: 10008, message: 'Unknown Message' });
        }
        const problems = messageViolations(body);
        if (problems.length) return this.refuse(res, path, problems, record);
        this.edit(message, body, files);
        record(200);
        return this.json(res, 200, this.apiMessage(message));
      }
    }
    record(404);
    this.unhandled.push(`${method} ${path}`);
    return this.json(res, 404, { code: 0, message: '404: Not Found' });
  }

  private callback(
    res: ServerResponse,
    token: string,
    body: Json,
    files: FakeFile[],
    query: URLSearchParams,
    record: (status: number, interactionToken?: string | null) => void,
  ): undefined {
    const state = this.interactions.get(token);
    if (!state) {
      record(404);
      return this.json(res, 404, { code: 10062, message: 'Unknown interaction' });
    }
    if (state.acknowledged) {
      record(400, state.token);
      return this.json(res, 400, { code: 40060, message: 'Interaction has already been acknowledged.' });
    }
    const type = Number(body?.type);
    const data = body?.data ?? {};
    if (type === 8) {
      const problems = choiceViolations(data.choices);
      if (problems.length) return this.refuse(res, `callback ${state.id}`, problems, record, state.token);
      state.choices = data.choices;
    } else if (type === 4 || type === 7) {
      const problems = messageViolations(data);
      if (problems.length) return this.refuse(res, `callback ${state.id}`, problems, record, state.token);
    }
    state.acknowledged = true;
    state.ackType = type;
    if (type === 4 || type === 5) {
      const message = this.store({
        channelId: state.channelId,
        author: this.botUser,
        ...(type === 4
          ? messageFields(data, files)
          : { content: '', embeds: [], components: [], attachments: [] }),
        flags: (Number(data.flags ?? 0) & EPHEMERAL) | (type === 5 ? LOADING : 0),
        interactionToken: state.token,
        referencedMessageId: null,
      });
      message.loading = type === 5;
      state.originalMessageId = message.id;
    } else if (type === 6 || type === 7) {
      state.originalMessageId = state.componentMessageId;
      const message = state.componentMessageId ? this.messages.get(state.componentMessageId) : undefined;
      if (type === 7 && message) this.edit(message, data, files);
    }
    record(query.get('with_response') === 'true' ? 200 : 204, state.token);
    if (query.get('with_response') === 'true') {
      const message = state.originalMessageId ? this.messages.get(state.originalMessageId) : undefined;
      return this.json(res, 200, {
        interaction: { id: state.id, type: state.type },
        resource: { type, ...(message ? { message: this.apiMessage(message) } : {}) },
      });
    }
    return this.noContent(res);
  }

  private webhook(
    res: ServerResponse,
    method: string,
    token: string,
    sub: string | undefined,
    messageId: string | undefined,
    body: Json,
    files: FakeFile[],
    record: (status: number, interactionToken?: string | null) => void,
  ): undefined {
    const state = this.interactions.get(token);
    if (!state?.acknowledged) {
      record(404, state?.token ?? null);
      return this.json(res, 404, { code: 10015, message: 'Unknown Webhook' });
    }
    if (sub === undefined && method === 'POST') {
      const problems = messageViolations(body);
      if (problems.length) return this.refuse(res, `followup ${state.id}`, problems, record, state.token);
      const original = state.originalMessageId ? this.messages.get(state.originalMessageId) : undefined;
      // The first follow-up to a deferred response replaces the loading message and keeps its visibility.
      if (original?.loading && state.ackType === 5) {
        this.edit(original, body, files);
        record(200, state.token);
        return this.json(res, 200, this.apiMessage(original));
      }
      const message = this.store({
        channelId: state.channelId,
        author: this.botUser,
        ...messageFields(body, files),
        flags: Number(body?.flags ?? 0) & EPHEMERAL,
        interactionToken: state.token,
        referencedMessageId: null,
      });
      record(200, state.token);
      return this.json(res, 200, this.apiMessage(message));
    }
    if (sub === 'messages' && messageId) {
      const id = messageId === '@original' ? state.originalMessageId : messageId;
      const message = id ? this.messages.get(id) : undefined;
      if (!message || message.deleted) {
        record(404, state.token);
        return this.json(res, 404, { code: 10008, message: 'Unknown Message' });
      }
      if (method === 'GET') {
        record(200, state.token);
        return this.json(res, 200, this.apiMessage(message));
      }
      if (method === 'DELETE') {
        message.deleted = true;
        record(204, state.token);
        return this.noContent(res);
      }
      if (method === 'PATCH') {
        const problems = messageViolations(body);
        if (problems.length) return this.refuse(res, `edit ${state.id}`, problems, record, state.token);
        this.edit(message, body, files);
        record(200, state.token);
        return this.json(res, 200, this.apiMessage(message));
      }
    }
    record(404, state.token);
    this.unhandled.push(`${method} webhook ${sub ?? ''} ${messageId ?? ''}`);
    return this.json(res, 404, { code: 0, message: '404: Not Found' });
  }

  private refuse(
    res: ServerResponse,
    where: string,
    problems: string[],
    record: (status: number, interactionToken?: string | null) => void,
    interactionToken: string | null = null,
  ): undefined {
    this.violations.push({ path: where, problems });
    record(400, interactionToken);
    return this.json(res, 400, {
      code: 50035,
      message: 'Invalid Form Body',
      errors: { _errors: problems.map((p) => ({ code: 'BASE_TYPE_MAX_LENGTH', message: p })) },
    });
  }

  // ------------------------------------------------------------------------------------------------
  // Messages

  private store(input: {
    channelId: string;
    author: FakeUser;
    content: string;
    embeds: Json[];
    components: Json[];
    flags: number;
    attachments: FakeFile[];
    interactionToken: string | null;
    referencedMessageId: string | null;
    sentAt?: number;
  }): FakeMessage {
    const { sentAt, ...fields } = input;
    const message: FakeMessage = {
      // A snowflake holds its creation time: a dated message gets an id from that time.
      id:
        sentAt === undefined
          ? this.nextId()
          : ((BigInt(sentAt - DISCORD_EPOCH) << 22n) | BigInt(++this.datedIds % 4_194_304)).toString(),
      ...fields,
      loading: false,
      pastButtonIds: new Set(),
      deleted: false,
      edits: 0,
      createdAt: new Date(sentAt ?? Date.now()),
      editedAt: null,
    };
    this.messages.set(message.id, message);
    return message;
  }

  private edit(message: FakeMessage, body: Json, files: FakeFile[]): void {
    if (body?.content !== undefined) message.content = body.content ?? '';
    if (body?.embeds !== undefined) message.embeds = body.embeds ?? [];
    if (body?.components !== undefined) {
      for (const id of buttonIds(message)) message.pastButtonIds.add(id);
      message.components = body.components ?? [];
    }
    if (files.length > 0) message.attachments = files;
    else if (Array.isArray(body?.attachments) && body.attachments.length === 0) message.attachments = [];
    message.loading = false;
    message.flags &= ~LOADING;
    message.edits++;
    message.editedAt = new Date();
  }

  private apiMessage(message: FakeMessage) {
    return {
      id: message.id,
      type: message.interactionToken ? 20 : message.referencedMessageId ? 19 : 0,
      channel_id: message.channelId,
      author: this.apiUser(message.author),
      content: message.content,
      timestamp: message.createdAt.toISOString(),
      edited_timestamp: message.editedAt?.toISOString() ?? null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: message.attachments.map((f, i) => ({
        id: `${message.id}${i}`,
        filename: f.filename,
        size: Buffer.byteLength(f.text),
        url: `http://127.0.0.1:${this.port}/attachments/${message.id}/${f.filename}`,
        proxy_url: `http://127.0.0.1:${this.port}/attachments/${message.id}/${f.filename}`,
      })),
      embeds: message.embeds,
      components: message.components,
      pinned: false,
      flags: message.flags,
      ...(message.interactionToken
        ? { webhook_id: this.applicationId, application_id: this.applicationId }
        : {}),
      ...(message.referencedMessageId
        ? { message_reference: { message_id: message.referencedMessageId, channel_id: message.channelId } }
        : {}),
    };
  }

  private apiUser(user: FakeUser) {
    return {
      id: user.id,
      username: user.username,
      discriminator: '0',
      global_name: user.globalName ?? null,
      avatar: null,
      ...(user.bot ? { bot: true } : {}),
    };
  }

  private apiMember(user: FakeUser | null) {
    return {
      ...(user ? { user: this.apiUser(user) } : {}),
      roles: [],
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      permissions: '1099511627775',
    };
  }

  private apiChannel(channel: FakeChannel & { dm?: FakeUser }) {
    if (channel.dm) return { id: channel.id, type: 1, recipients: [this.apiUser(channel.dm)] };
    return {
      id: channel.id,
      type: 0,
      guild_id: this.guildId,
      name: channel.name,
      position: 0,
      permission_overwrites: [],
      nsfw: false,
      parent_id: null,
    };
  }

  private apiGuild() {
    return {
      id: this.guildId,
      name: 'Trading desk',
      icon: null,
      owner_id: this.botUser.id,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      features: [],
      mfa_level: 0,
      system_channel_flags: 0,
      premium_tier: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      unavailable: false,
      member_count: 2,
      large: false,
      joined_at: new Date(0).toISOString(),
      roles: [
        {
          id: this.guildId,
          name: '@everyone',
          color: 0,
          hoist: false,
          position: 0,
          permissions: '1099511627775',
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      members: [this.apiMember(this.botUser)],
      channels: [...this.channels.values()].filter((c) => !c.dm).map((c) => this.apiChannel(c)),
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
    };
  }

  private registered(command: string): Json {
    const found =
      this.commands.get(this.guildId)?.find((c) => c.name === command) ??
      this.commands.get('global')?.find((c) => c.name === command);
    if (!found) throw new Error(`the bot registered no /${command}`);
    return found;
  }

  /** A snowflake of the current time, as Discord's are: ids sort in the order things were made. */
  private nextId(): string {
    const now = BigInt(Date.now() - DISCORD_EPOCH) << 22n;
    this.snowflake = now > this.snowflake ? now : this.snowflake + 1n;
    return this.snowflake.toString();
  }

  private json(res: ServerResponse, status: number, body: unknown): undefined {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** A 204 with no content-type: @discordjs/rest would try to parse an empty JSON body otherwise. */
  private noContent(res: ServerResponse): undefined {
    res.writeHead(204);
    res.end();
  }
}

/** The custom ids of every button on a message. */
export function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row: Json) =>
    (row.components ?? []).map((c: Json) => c.custom_id).filter(Boolean),
  );
}

/** All text a person would read in a message: content, embed titles, descriptions, fields and footers. */
export function messageText(message: { content?: string; embeds?: unknown[] } | null | undefined): string {
  if (!message) return '';
  const embeds = (message.embeds ?? []) as Json[];
  return [
    message.content ?? '',
    ...embeds.flatMap((e) => [
      e.title ?? '',
      e.description ?? '',
      ...(e.fields ?? []).map((f: Json) => `${f.name}: ${f.value}`),
      e.footer?.text ?? '',
    ]),
  ]
    .filter(Boolean)
    .join('\n');
}

function messageFields(body: Json, files: FakeFile[]) {
  return {
    content: body?.content ?? '',
    embeds: body?.embeds ?? [],
    components: body?.components ?? [],
    attachments: files,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** JSON, or discord.js's multipart form (`payload_json` plus `files[n]`) when a message carries files. */
async function parseBody(
  contentType: string | undefined,
  raw: Buffer,
): Promise<{ body: unknown; files: FakeFile[] }> {
  if (raw.length === 0) return { body: null, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': contentType },
    }).formData();
    const files: FakeFile[] = [];
    let body: unknown = null;
    for (const [name, value] of form.entries()) {
      if (name === 'payload_json' && typeof value === 'string') body = JSON.parse(value);
      else if (typeof value !== 'string') files.push({ filename: value.name, text: await value.text() });
    }
    return { body, files };
  }
  return { body: JSON.parse(raw.toString('utf8')), files: [] };
}
