/**
 * The slash commands: their definitions for registration, and the command line each interaction
 * becomes. Slash options are rebuilt into the text the shared grammar parses (`/buy MNQ 1 tp=20
 * sl=10 account=X`), so a Discord command means exactly what the same command typed anywhere else
 * means, and every check on it lives in one place.
 */
import {
  type ApplicationCommandOptionChoiceData,
  ChannelType,
  type ChatInputCommandInteraction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  SlashCommandBuilder,
  type SlashCommandStringOption,
} from 'discord.js';
import { type App, COMMANDS, PRODUCTS, ROLES } from '../../src/index.js';

const symbolOption = (o: SlashCommandStringOption, required: boolean, description: string) =>
  o.setName('symbol').setDescription(description).setRequired(required).setAutocomplete(true);

/** `account` and `group` narrow a command to some of the caller's accounts. */
function withTarget(b: SlashCommandBuilder): SlashCommandBuilder {
  b.addStringOption((o) =>
    o
      .setName('account')
      .setDescription('Only these accounts (names, comma-separated; admins: all)')
      .setAutocomplete(true),
  );
  b.addStringOption((o) =>
    o.setName('group').setDescription('Only the accounts of this group').setAutocomplete(true),
  );
  return b;
}

function trade(name: 'buy' | 'sell', description: string): SlashCommandBuilder {
  const b = new SlashCommandBuilder().setName(name).setDescription(description);
  b.addStringOption((o) => symbolOption(o, true, 'Symbol: MNQ, MNQ1!, MNQZ6'));
  b.addIntegerOption((o) =>
    o
      .setName('quantity')
      .setDescription('Contracts, before each account’s multiplier')
      .setRequired(true)
      .setMinValue(1),
  );
  b.addStringOption((o) =>
    o
      .setName('tp')
      .setDescription('Take-profit: 20 = points, 80t = ticks, @21520.25 = price, 0.5% = percent'),
  );
  b.addStringOption((o) =>
    o.setName('sl').setDescription('Stop-loss: 10 = points, 40t = ticks, @21480 = price, 0.3% = percent'),
  );
  b.addStringOption((o) =>
    o.setName('limit').setDescription('Limit entry price, e.g. 21500.25 (market without)'),
  );
  return withTarget(b);
}

/** Every slash command, as registered with Discord. */
export function commandDefinitions(): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  const flatten = new SlashCommandBuilder()
    .setName('flatten')
    .setDescription('Close positions and cancel working orders (every symbol unless one is named)');
  flatten.addStringOption((o) => symbolOption(o, false, 'One symbol, or all (the default)'));

  const close = new SlashCommandBuilder().setName('close').setDescription("Close one symbol's position");
  close.addStringOption((o) => symbolOption(o, true, 'Symbol to close: MNQ, MNQ1!, MNQZ6'));

  const halt = new SlashCommandBuilder()
    .setName('halt')
    .setDescription('Stop new entries everywhere (admin)');
  halt.addStringOption((o) => o.setName('reason').setDescription('Why, shown in /status').setMaxLength(200));

  const help = new SlashCommandBuilder()
    .setName('help')
    .setDescription('The commands, or the options of one');
  help.addStringOption((o) =>
    o
      .setName('command')
      .setDescription('A command to explain')
      .addChoices(...COMMANDS.map((c) => ({ name: c, value: c }))),
  );

  const subscription = (name: 'subscribe' | 'unsubscribe', description: string) => {
    const b = new SlashCommandBuilder().setName(name).setDescription(description);
    b.addStringOption((o) =>
      o.setName('account').setDescription('One of your accounts').setRequired(true).setAutocomplete(true),
    );
    b.addChannelOption((o) =>
      o
        .setName('channel')
        .setDescription('The signal channel (this one if left out)')
        .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement),
    );
    return b;
  };

  const role = new SlashCommandBuilder().setName('role').setDescription('Grant or revoke a role (admin)');
  role.addStringOption((o) =>
    o
      .setName('role')
      .setDescription('The role')
      .setRequired(true)
      .addChoices(...ROLES.map((r) => ({ name: r, value: r }))),
  );
  role.addUserOption((o) => o.setName('user').setDescription('A member of this server'));
  role.addStringOption((o) =>
    o.setName('identity').setDescription('Or anyone as platform:id, e.g. telegram:12345').setMaxLength(100),
  );
  role.addBooleanOption((o) => o.setName('revoke').setDescription('Take the role away instead'));

  const channel = new SlashCommandBuilder()
    .setName('channel')
    .setDescription('Register this channel as a signal or report channel (admin)');
  channel.addStringOption((o) =>
    o
      .setName('role')
      .setDescription('What this channel is for')
      .setRequired(true)
      .addChoices({ name: 'signal', value: 'signal' }, { name: 'report', value: 'report' }),
  );

  const provider = new SlashCommandBuilder()
    .setName('provider')
    .setDescription('Add or remove a signal provider of this channel (admin)');
  provider.addStringOption((o) =>
    o
      .setName('action')
      .setDescription('Add or remove')
      .setRequired(true)
      .addChoices({ name: 'add', value: 'add' }, { name: 'remove', value: 'remove' }),
  );
  provider.addUserOption((o) => o.setName('user').setDescription('A member of this server'));
  provider.addStringOption((o) =>
    o.setName('identity').setDescription('Or anyone as platform:id, e.g. telegram:12345').setMaxLength(100),
  );

  const simple = (name: string, description: string) =>
    new SlashCommandBuilder().setName(name).setDescription(description);

  return [
    trade('buy', 'Buy: open or add to a long on your accounts'),
    trade('sell', 'Sell: open or add to a short on your accounts'),
    withTarget(flatten),
    withTarget(close),
    withTarget(simple('positions', 'Show open positions and working orders')),
    simple('accounts', 'List your accounts'),
    simple('status', 'Service, broker and credential status'),
    halt,
    simple('resume', 'Allow entries again (admin)'),
    simple('link', 'Link your Tradovate login (a private sign-in link)'),
    simple('dashboard', 'A private sign-in link to the web dashboard'),
    subscription('subscribe', "Take a signal channel's signals on one of your accounts"),
    subscription('unsubscribe', "Stop taking a signal channel's signals on an account"),
    role,
    channel,
    provider,
    help,
  ].map((b) => b.toJSON());
}

/** The command line an interaction stands for, or why it cannot be written as one. */
export type CommandText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly message: string };

class Refused extends Error {}

/**
 * Write a slash interaction as the grammar's command line. Option values are quoted as `key="value"`,
 * so whatever someone types into an option stays that option's value and cannot add options of its
 * own; positional words are checked for the same reason.
 */
export function commandText(interaction: ChatInputCommandInteraction): CommandText {
  const o = interaction.options;
  const name = interaction.commandName;
  const parts: string[] = [`/${name}`];
  const option = (key: string) => {
    const value = o.getString(key);
    if (value !== null && value.trim() !== '') parts.push(`${key}=${quoted(value, key)}`);
  };
  const target = () => {
    option('account');
    option('group');
  };
  try {
    switch (name) {
      case 'buy':
      case 'sell':
        parts.push(symbolWord(o.getString('symbol', true)), String(o.getInteger('quantity', true)));
        option('tp');
        option('sl');
        option('limit');
        target();
        break;
      case 'flatten': {
        const symbol = o.getString('symbol');
        parts.push(symbol === null || symbol.trim().toLowerCase() === 'all' ? 'all' : symbolWord(symbol));
        target();
        break;
      }
      case 'close':
        parts.push(symbolWord(o.getString('symbol', true)));
        target();
        break;
      case 'positions':
        target();
        break;
      case 'accounts':
      case 'status':
      case 'resume':
      case 'link':
      case 'dashboard':
        break;
      case 'halt': {
        const reason = o.getString('reason');
        if (reason) parts.push(reason.replace(/\s+/g, ' ').trim());
        break;
      }
      case 'help': {
        const topic = o.getString('command');
        if (topic) parts.push(word(topic, 'command'));
        break;
      }
      case 'subscribe':
      case 'unsubscribe': {
        parts.push(word(o.getString('account', true), 'account'));
        const channel = o.getChannel('channel');
        if (channel) parts.push(channel.id);
        break;
      }
      case 'role':
        parts.push(
          o.getBoolean('revoke') ? 'revoke' : 'grant',
          identity(interaction),
          o.getString('role', true),
        );
        break;
      case 'channel':
        parts.push(o.getString('role', true));
        break;
      case 'provider':
        parts.push(o.getString('action', true), identity(interaction));
        break;
      default:
        return { ok: false, message: `/${name} is not a command of this bot.` };
    }
  } catch (error) {
    if (error instanceof Refused) return { ok: false, message: error.message };
    throw error;
  }
  return { ok: true, text: parts.join(' ') };
}

/** A user picked from the server, else one typed as platform:id. */
function identity(interaction: ChatInputCommandInteraction): string {
  const user = interaction.options.getUser('user');
  if (user) return `discord:${user.id}`;
  const typed = interaction.options.getString('identity');
  if (typed && typed.trim() !== '') return word(typed, 'identity');
  throw new Refused('Name the user: pick one in user, or type platform:id in identity.');
}

/**
 * A symbol as a positional word. The exchange prefix (`CME_MINI:`) is dropped, as the grammar drops it
 * too, so what is left can never read as a `key:value` option.
 */
function symbolWord(value: string): string {
  const symbol = value.trim().slice(value.trim().lastIndexOf(':') + 1);
  if (!/^[A-Za-z][A-Za-z0-9!]*$/.test(symbol)) {
    throw new Refused(
      `symbol: ${value.trim() || 'nothing'} is not a symbol (expected e.g. MNQ, MNQ1!, MNQZ6)`,
    );
  }
  return symbol;
}

/** A positional word of a command the grammar reads word by word: quoted when it holds spaces. */
function word(value: string, what: string): string {
  const v = value.trim();
  if (v.includes('"')) throw new Refused(`${what}: double quotes are not allowed`);
  return /\s/.test(v) ? `"${v}"` : v;
}

function quoted(value: string, what: string): string {
  if (value.includes('"')) throw new Refused(`${what}: double quotes are not allowed`);
  return `"${value.trim()}"`;
}

// ---------------------------------------------------------------------------------------------------
// Autocomplete

const MAX_CHOICES = 25;

/** Product roots matching what was typed so far; `all` first for /flatten. */
export function symbolChoices(typed: string, withAll: boolean): ApplicationCommandOptionChoiceData<string>[] {
  const q = typed.trim().toUpperCase();
  const products = [...PRODUCTS.values()]
    .filter((p) => q === '' || p.root.startsWith(q) || p.description.toUpperCase().includes(q))
    .sort(
      (a, b) => Number(!a.root.startsWith(q)) - Number(!b.root.startsWith(q)) || a.root.localeCompare(b.root),
    )
    .map((p) => ({ name: clipChoice(`${p.root} · ${p.description}`), value: p.root }));
  const all = withAll && 'ALL'.startsWith(q) ? [{ name: 'all · every symbol', value: 'all' }] : [];
  return [...all, ...products].slice(0, MAX_CHOICES);
}

/**
 * The caller's own account names (or groups) matching what was typed: read from the stores for the
 * caller's identity only, so nobody sees another person's accounts. Unknown callers get none.
 */
export async function accountChoices(
  app: App,
  discordUserId: string,
  typed: string,
  field: 'account' | 'group',
): Promise<ApplicationCommandOptionChoiceData<string>[]> {
  const user = await app.stores.users.findByIdentity('discord', discordUserId);
  if (!user) return [];
  const accounts = await app.stores.accounts.listForUser(user.id);
  const names =
    field === 'account'
      ? accounts.map((a) => a.name)
      : [...new Set(accounts.map((a) => a.group).filter((g): g is string => g !== null))];
  // A list being typed (`A-1,A-2,A-`) completes its last name.
  const comma = typed.lastIndexOf(',');
  const head = field === 'account' && comma >= 0 ? typed.slice(0, comma + 1) : '';
  const q = typed.slice(head.length).trim().toLowerCase();
  return (
    names
      .filter((n) => n.toLowerCase().includes(q))
      .sort(
        (a, b) =>
          Number(!a.toLowerCase().startsWith(q)) - Number(!b.toLowerCase().startsWith(q)) ||
          a.localeCompare(b),
      )
      .map((n) => `${head}${n}`)
      // A choice's value is capped at 100 characters; a longer list cannot be completed this way.
      .filter((value) => value.length <= 100)
      .slice(0, MAX_CHOICES)
      .map((value) => ({ name: clipChoice(value), value }))
  );
}

const clipChoice = (s: string) => (s.length <= 100 ? s : `${s.slice(0, 99)}…`);
