//! `biblio-api seed`: deterministic lab-volume data (1,000 members, 10,000 books, 80,000 loans by
//! default), consistent with every invariant, loaded with multi-row INSERTs.
//!
//! The catalogue looks like a library's: titles from a few thousand words drawn with a Zipf-like
//! distribution in many templates (about 85% of 10,000 titles distinct), authors from a pool
//! where a few are prolific (about one in five with an accented name, a few in CJK script),
//! subject headings, publishers, and years from 1900 to 2025 skewed to recent ones. Novels,
//! non-fiction, series, cookery, poetry, lives, and a few books in French, Spanish, German,
//! Japanese, Chinese and Korean.
//!
//! The same `--seed` gives the same members, books and loans (the content; timestamps are
//! relative to when the seed runs, so recent loans stay recent). Most loans are returned; the
//! most recent ones are still out, within the copies on the shelf and the members' limits, and
//! some of those are overdue. Every seeded member's password is [`SEED_PASSWORD`]; member 1 of a
//! seed into an empty database is the librarian `librarian@biblio.example`.
//!
//! One concern, one long file: most of its lines are the word, name and subject lists the
//! generator draws from (data, read together with the templates that use them); the generator,
//! the bulk insert and their tests are the rest.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{Connection, MySql, MySqlConnection, QueryBuilder};

use crate::config::Settings;
use crate::domain::book::Book;
use crate::domain::ids::BookId;
use crate::domain::isbn::Isbn;
use crate::domain::{LOAN_DAYS, MAX_BOOKS_PER_MEMBER};
use crate::storage;

/// The password of every seeded account (documented in the README for load tests and demos).
pub const SEED_PASSWORD: &str = "biblio-seed-password";
/// The seeded librarian's email.
pub const SEED_LIBRARIAN: &str = "librarian@biblio.example";

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 1_000)]
    pub members: u32,
    #[arg(long, default_value_t = 10_000)]
    pub books: u32,
    #[arg(long, default_value_t = 80_000)]
    pub loans: u32,
    /// The value the data is generated from.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Do nothing if the catalogue already has books (for scripts that seed a fresh stack).
    #[arg(long)]
    pub if_empty: bool,
}

/// SplitMix64: tiny, fast, and the same sequence on every platform and version, which a
/// library RNG does not promise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue generator.
//
// Every list below is in rank order: the first entry is drawn most often. Draws follow Zipf's
// law (weight 1/rank), as word frequencies in real titles do, so a few words are everywhere and
// most are rare. The vocabulary is a few thousand words: the curated lists, plus a long tail of
// syllable-composed names (places, houses, series) generated from a fixed seed.
//
// The words the benchmarks and load scripts search for (xtask `WORDS`: garden, river, history,
// silent, machine, guide, forest, kingdom, golden, island, cooking, maps) sit at ranks that keep
// "history" broad (about a third of the catalogue, through titles and subject headings) and
// "garden" narrow (a few hundred books), as `docs/BENCHMARKS.md` assumes.
// ---------------------------------------------------------------------------------------------

/// A ranked list drawn with weight 1/(rank + shift): Zipf's law when `shift` is 0, a flatter
/// head (Zipf–Mandelbrot) otherwise. Integer weights: the same draws on every platform.
struct Zipf<T> {
    items: Vec<T>,
    cumulative: Vec<u64>,
}

impl<T> Zipf<T> {
    fn new(items: Vec<T>, shift: u64) -> Self {
        assert!(!items.is_empty(), "a ranked list needs items");
        let mut total = 0u64;
        let cumulative = (1..=items.len() as u64)
            .map(|rank| {
                total += (1u64 << 40) / (rank + shift);
                total
            })
            .collect();
        Self { items, cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> &T {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.below(total);
        &self.items[self.cumulative.partition_point(|&c| c <= x)]
    }
}

impl Zipf<&'static str> {
    /// A ranked list written as `"first|second|…"` (line breaks and spaces around `|` ignored).
    fn of(list: &'static str, shift: u64) -> Self {
        Self::new(
            list.split('|')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect(),
            shift,
        )
    }

    fn pick(&self, rng: &mut Rng) -> &'static str {
        self.draw(rng)
    }
}

/// Title words: ranked, most frequent first. "Garden", "River", "Island", "Forest", "Kingdom"
/// and "Machine" are search words of the benchmarks.
const ADJECTIVES: &str = "Lost|Last|Dark|Golden|Secret|Silent|Little|Hidden|Long|Broken|Wild|Red|\
    Black|White|Forgotten|Blue|Great|Distant|Quiet|Northern|Burning|Ancient|Invisible|Green|Empty|\
    Bright|Crimson|Glass|Iron|Endless|Midnight|Wandering|Painted|Restless|Salt|Stone|Paper|Silver|\
    Velvet|Hollow|Sleeping|Shining|Drowned|Frozen|Savage|Gentle|Bitter|Sweet|Strange|Tender|\
    Crooked|Fallen|Narrow|Southern|Eastern|Western|Open|Deep|Cold|Warm|Whispering|Vanishing|\
    Unfinished|Unquiet|Luminous|Shattered|Scarlet|Amber|Emerald|Ivory|Copper|Brass|Marble|Wooden|\
    Feathered|Weeping|Laughing|Dancing|Singing|Lonely|Patient|Reluctant|Accidental|Impossible|\
    Improbable|Ordinary|Extraordinary|Curious|Peculiar|Beautiful|Terrible|Wonderful|Magnificent|\
    Perfect|Imperfect|Innocent|Guilty|Faithful|Wicked|Honest|Gilded|Tattered|Seventh|Eleventh|\
    Final|First|Early|Late|Autumn|Evening|Morning|Twilight|Starlit|Moonlit|Sunlit|Misty|Windswept|\
    Stormy|Rising|Falling|Turning|Drifting|Floating|Flying|Waking|Dreaming|Borrowed|Stolen|Buried|\
    Sunken|Abandoned|Hungry|Weary|Brave|Bold|Proud|Humble|Wise|Foolish|Clever|Reckless|Pale|Bare|\
    Rare|Sacred|Royal|Imperial|Mechanical|Electric|Clockwork|Orange|Yellow|Violet|Grey|Lucky|\
    Unlucky|Hundredth|Thousandth|Bottomless|Nameless|Faceless|Heartless|Sleepless|Timeless|\
    Boundless|Careless|Fearless|Homeless|Lawless|Merciless|Priceless|Restive|Secondhand|Splendid|\
    Solitary|Unseen|Untold|Unspoken|Unbroken|Undying|Wistful|Woeful|Youthful";

const NOUNS: &str = "House|Night|World|Garden|Light|River|Heart|Island|Sea|Time|Forest|Girl|\
    Kingdom|Road|Shadow|Machine|Day|Water|Fire|Book|Star|Man|Woman|Dream|Door|Child|Queen|King|\
    Storm|Song|Game|Mountain|City|Moon|Sky|Winter|Summer|Library|Letter|Bridge|Lighthouse|Orchard|\
    Harbour|Archive|Compass|Voyage|Tide|Wind|Snow|Rain|Ghost|Mirror|Window|Key|Clock|Bell|Crown|\
    Sword|Ship|Train|Tower|Castle|Field|Valley|Lake|Shore|Coast|Desert|Meadow|Hill|Path|Journey|\
    Promise|Truth|Lie|Memory|Silence|Voice|Name|Face|Hand|Eye|Blood|Bone|Dust|Ash|Stone|Paper|Ink|\
    Thread|Needle|Feather|Wing|Bird|Wolf|Fox|Bear|Horse|Crow|Raven|Owl|Whale|Tiger|Lion|Serpent|\
    Dragon|Rose|Lily|Oak|Willow|Apple|Pearl|Diamond|Ruby|Gold|Fortune|Debt|Inheritance|Wedding|\
    Funeral|Feast|Festival|Carnival|Circus|Theatre|Opera|Museum|Cathedral|Chapel|Abbey|Palace|\
    Cottage|Farm|Mill|Inn|Tavern|Hotel|Station|Market|Street|Square|Village|Town|Empire|Republic|\
    Country|Border|Frontier|Wall|Gate|Season|Hour|Year|Century|Morning|Evening|Dawn|Dusk|Mystery|\
    Riddle|Puzzle|Cipher|Code|Signal|Echo|Whisper|Laughter|Kiss|Farewell|Return|Arrival|Departure|\
    Escape|Exile|Pilgrim|Stranger|Traveller|Wanderer|Orphan|Widow|Soldier|Sailor|Captain|Spy|Thief|\
    Witch|Wizard|Prophet|Saint|Hunter|Shepherd|Keeper|Angel|Devil|Giant|Dwarf|Mermaid|Unicorn|\
    Phoenix|Lantern|Candle|Chest|Coin|Ring|Necklace|Locket|Portrait|Painting|Statue|Fountain|Well|\
    Pond|Marsh|Glacier|Volcano|Canyon|Cave|Cliff|Reef|Lagoon|Delta|Estuary|Spring|Brook|Waterfall|\
    Rainbow|Comet|Planet|Galaxy|Atlas|Chronicle|Testament|Covenant|Conspiracy|Revolution|Rebellion|\
    Siege|Battle|Victory|Defeat|Treaty|Alliance|Betrayal|Revenge|Redemption|Reckoning|Awakening|\
    Descent|Ascent|Crossing|Passage|Harvest|Vineyard|Greenhouse|Conservatory|Observatory|Workshop|\
    Foundry|Factory|Laboratory|Academy|School|Hospital|Asylum|Prison|Courtroom|Embassy|Consulate|\
    Parliament|Cabinet|Attic|Cellar|Staircase|Corridor|Balcony|Terrace|Courtyard|Labyrinth|Maze";

const PLURALS: &str = "Stars|Shadows|Gardens|Bones|Roses|Wolves|Islands|Birds|Rivers|Ashes|\
    Maps|Tides|Bells|Ghosts|Forests|Kingdoms|Machines|Waters|Stones|Leaves|Flowers|Mountains|Kings|\
    Queens|Children|Daughters|Sons|Sisters|Brothers|Strangers|Thieves|Saints|Angels|Dragons|Horses|\
    Whales|Crows|Swallows|Lions|Lanterns|Mirrors|Windows|Doors|Keys|Clocks|Letters|Songs|Dreams|Memories|Secrets|\
    Lies|Promises|Storms|Winds|Fires|Embers|Feathers|Threads|Pearls|Diamonds|Empires|Ruins|\
    Rooms|Streets|Bridges|Ships|Sails|Waves|Seasons|Summers|Winters|Days|Nights|\
    Years|Hours|Hands|Eyes|Voices|Names|Words|Orchards|Wings|Crowns|Swords|Towers|Walls|Gates";

const OCCUPATIONS: &str = "Clockmaker|Cartographer|Gardener|Bookseller|Lighthouse Keeper|\
    Beekeeper|Watchmaker|Physician|Apothecary|Astronomer|Baker|Tailor|Glassblower|Printer|\
    Translator|Archivist|Librarian|Surgeon|Midwife|Ferryman|Fisherman|Shepherd|Blacksmith|\
    Stonemason|Weaver|Potter|Painter|Sculptor|Composer|Violinist|Pianist|Dancer|Actor|Magician|\
    Detective|Spy|Soldier|Sailor|Captain|Pilot|Engineer|Inventor|Architect|Botanist|Naturalist|\
    Governess|Housekeeper|Butler|Chef|Innkeeper|Merchant|Banker|Lawyer|Judge|Priest|Monk|Prince|\
    Princess|Emperor|Hunter|Thief|Forger|Perfumer|Chocolatier|Typesetter|Diver|Miner|Ranger|\
    Tea Merchant|Silk Merchant|Mapmaker|Bookbinder|Locksmith|Puppeteer|Tightrope Walker";

/// What an occupation has in titles such as "The Clockmaker's Daughter".
const BELONGINGS: &str = "Daughter|Wife|Son|Apprentice|Secret|Garden|Tale|Promise|Widow|Sister|\
    Lover|Notebook|Journal|Legacy|Dilemma|Gambit|Shadow|Assistant|Guest|Mistake|Confession|Map|\
    Song|Return|War|Child|Wedding|House|Last Case|Curse|Bride|Heir|Ghost|Gift|Revenge|Island";

/// Real places, with the accents they are written with.
const PLACES: &str = "London|Paris|Venice|Rome|Vienna|Prague|Lisbon|Istanbul|Cairo|Kyoto|Tokyo|\
    Berlin|Dublin|Edinburgh|Montréal|São Paulo|Zürich|Kraków|Reykjavík|Málaga|Córdoba|Bogotá|\
    Gdańsk|Nîmes|Bruges|Florence|Naples|Seville|Barcelona|Marrakesh|Tangier|Alexandria|Jerusalem|\
    Baghdad|Samarkand|Kabul|Delhi|Kolkata|Mumbai|Havana|Buenos Aires|Mexico City|New Orleans|\
    Chicago|New York|San Francisco|Boston|Alaska|Patagonia|Siberia|Tibet|Provence|Tuscany|\
    Andalusia|Bavaria|Normandy|Brittany|Cornwall|Yorkshire|the Highlands|the Alps|the Andes|\
    the Himalayas|the Sahara|the Amazon|the Nile|the Danube|the Mississippi|the Thames|the Baltic|\
    the Mediterranean|the Pacific|the Atlantic|the Arctic|Manhattan|Brooklyn|Kerala|Oaxaca|\
    Valparaíso|Cádiz|Crete|Sicily|Sardinia|Corsica|Malta|Zanzibar|Lagos|Nairobi|Accra|Dakar|\
    Timbuktu|Hanoi|Saigon|Bangkok|Singapore|Hong Kong|Seoul|Manila|Jakarta|Bali|Sydney|Tasmania|\
    Auckland|Köln|Düsseldorf|Göteborg|Malmö|Tromsø|Århus|Besançon|Åland|Shanghai";

/// Non-fiction topics in rank order, each with the subject heading it is catalogued under.
const TOPICS: &str = "the World=World History|Science=Science|Art=Art|Mathematics=Mathematics|\
    Philosophy=Philosophy|Gardening=Gardening|Music=Music|Medicine=Medicine|Economics=Economics|\
    Britain=Great Britain -- History|Maps=Cartography|Europe=Europe -- History|Cooking=Cooking|\
    Astronomy=Astronomy|Psychology=Psychology|the Ocean=Oceanography|Religion=Religion|\
    Photography=Photography|Machines=Machinery|Architecture=Architecture|Language=Linguistics|\
    Gardens=Gardens -- History|Computing=Computer Science|Machine Learning=Machine Learning|Rivers=Rivers|\
    Forests=Forests and Forestry|Islands=Islands|Birds=Birds|Cities=Urban Studies|\
    War=Military History|the Roman Empire=Rome -- History|Ancient Greece=Greece -- History|\
    Egypt=Egypt -- Antiquities|China=China -- History|Japan=Japan -- History|India=India -- History|\
    Africa=Africa -- History|the Americas=America -- History|the United States=United States -- History|\
    France=France -- History|Germany=Germany -- History|Russia=Russia -- History|Spain=Spain -- History|\
    Italy=Italy -- History|the Middle Ages=Middle Ages|the Renaissance=Renaissance|\
    the Industrial Revolution=Industrial Revolution|Money=Money|Trade=Commerce|Capitalism=Capitalism|\
    Democracy=Democracy|Law=Law|Justice=Justice|Education=Education|Childhood=Child Development|\
    Ethics=Ethics|Logic=Logic|Physics=Physics|Chemistry=Chemistry|Biology=Biology|\
    Evolution=Evolution|Genetics=Genetics|Ecology=Ecology|Climate=Climate Change|\
    Weather=Meteorology|Geology=Geology|Volcanoes=Volcanoes|Earthquakes=Earthquakes|\
    Dinosaurs=Paleontology|Insects=Insects|Bees=Bees|Trees=Trees|Flowers=Flowers|\
    Mushrooms=Mushrooms|Wine=Wine and Wine Making|Coffee=Coffee|Tea=Tea|Bread=Bread|\
    Chocolate=Chocolate|Algorithms=Computer Algorithms|Databases=Database Management|\
    Programming=Computer Programming|Software=Software Engineering|the Internet=Internet|\
    Artificial Intelligence=Artificial Intelligence|Robots=Robotics|\
    Engines=Engines|Bridges=Bridges|Railways=Railroads|Ships=Ships|Sailing=Sailing|\
    Flight=Aeronautics|Space Travel=Space Flight|the Moon=Moon|the Stars=Stars|Time=Time|\
    Clocks=Clocks and Watches|Typography=Typography|Printing=Printing|Books=Books and Reading|\
    Libraries=Libraries|Writing=Authorship|Poetry=Poetry -- History and Criticism|\
    the Novel=Fiction -- History and Criticism|Shakespeare=English Drama|Theatre=Theater|\
    Film=Motion Pictures|Dance=Dance|Jazz=Jazz|Opera=Opera|Painting=Painting|Sculpture=Sculpture|\
    Design=Design|Fashion=Fashion|Textiles=Textile Fabrics|Furniture=Furniture|Ceramics=Pottery|\
    Mountains=Mountaineering|Deserts=Deserts|the Arctic=Arctic Regions|Exploration=Discoveries in Geography|\
    Travel=Travel|Walking=Walking|Running=Running|Football=Soccer|Cricket=Cricket|Chess=Chess|\
    Games=Games|Puzzles=Puzzles|Magic=Magic Tricks|Disease=Diseases|Public Health=Public Health|\
    Nursing=Nursing|Surgery=Surgery|the Brain=Neurosciences|Sleep=Sleep|Memory=Memory|\
    Happiness=Happiness|Love=Love|Friendship=Friendship|Marriage=Marriage|the Family=Families|\
    Women=Women|Work=Work|Housing=Housing|Migration=Emigration and Immigration|Slavery=Slavery|\
    Empire=Imperialism|Revolution=Revolutions|Propaganda=Propaganda|Espionage=Espionage|\
    Crime=Crime|Prisons=Prisons|Death=Death|Myths=Mythology|Folklore=Folklore|\
    Witchcraft=Witchcraft|Islam=Islam|Christianity=Christianity|Buddhism=Buddhism|\
    Judaism=Judaism|Hinduism=Hinduism|Fishing=Fishing|Hunting=Hunting|Farming=Agriculture|\
    Horses=Horses|Dogs=Dogs|Cats=Cats|Whales=Whales|Spices=Spices|Sugar=Sugar|Cotton=Cotton|\
    Oil=Petroleum|Coal=Coal|Gold=Gold|Numbers=Number Theory|Statistics=Statistics|\
    Probability=Probabilities|Geometry=Geometry|Cryptography=Cryptography|Sound=Sound|\
    Colour=Color|Light=Light|Electricity=Electricity|Energy=Power Resources|\
    Nuclear Power=Nuclear Energy|Water=Water|Glass=Glass|Paper=Paper|Salt=Salt|Soil=Soils";

/// Subject headings added to a book besides its genre's, in rank order.
const SUBJECTS: &str = "History|Fiction|Biography|Social Life and Customs|Juvenile Literature|\
    Science|Politics and Government|Philosophy|Literary Criticism|Travel|Religion|Art|Nature|\
    Poetry|Economics|Psychology|Education|Essays|Humor|Gardening|Women|Families|Technology|\
    Mathematics|Music|Health|Cooking|Law|Sports|Adventure Stories|Architecture|Photography|Drama|Language|\
    Medicine|Folklore|Animals|Environment|Anthologies|World History|Military History|\
    Natural History|Local History|Social History|Art -- History|Intellectual Life|Popular Culture|\
    Ethics|Memoirs|Correspondence|Diaries|Reference|Handbooks and Manuals|Dictionaries|Atlases|\
    Maps|Study Guides|Textbooks|Computer Science|Business|Management|Finance|Self-Help|Parenting|\
    Pets|Handicraft|Hobbies|Games|Transportation|Agriculture|Ecology|Oceans|Astronomy|\
    Physics|Chemistry|Biology|Geography|Anthropology|Archaeology|Sociology|Linguistics|Mythology|\
    Performing Arts|Motion Pictures|Design|Fashion|Antiques and Collectibles|Graphic Novels|\
    Young Adult Fiction|Picture Books|Horror|Westerns|Romance|Short Stories|Classics|Translations|\
    Bilingual Editions|Rivers|Islands|Forests and Forestry|Mountains|Cities and Towns|Exploration|\
    Maritime History|Economic History|Science -- History|Cooking -- History|Gardens -- History|\
    Technology -- History|Medicine -- History|Music -- History and Criticism|Europe -- History|\
    Great Britain -- History|Manners and Customs|Emigration and Immigration|Race Relations|\
    Human Rights|Climate Change|Wildlife|Birds|Trees|Flowers|Landscape|Rural Life|City Life|\
    Friendship|Love|Death|Grief|Identity|Memory|Childhood|Old Age|Aging|Work|Labor|Industry|\
    Inventions|Machinery|Engineering|Internet|Artificial Intelligence|Mathematics -- History";

/// The first subject of a novel or story, in rank order.
const FICTION_SUBJECTS: &str = "Fiction|Literary Fiction|Mystery Fiction|Historical Fiction|\
    Thrillers|Romance Fiction|Fantasy Fiction|Science Fiction|Domestic Fiction|\
    Psychological Fiction|Adventure Stories|Detective and Mystery Stories|Young Adult Fiction|\
    Bildungsromans|Horror Fiction|Suspense Fiction|Family Sagas|Humorous Fiction|War Stories|\
    Sea Stories|Ghost Stories|Gothic Fiction|Epistolary Fiction|Magic Realism|Dystopias|\
    Love Stories|Satire|Political Fiction|Spy Stories|Fairy Tales";

const SERIES_SUBJECTS: &str = "Fantasy Fiction|Science Fiction|Adventure Stories|\
    Mystery Fiction|Children's Stories|Young Adult Fiction|Historical Fiction|Fiction";

const PUBLISHERS: &str = "Penguin|Vintage|HarperCollins|Random House|Macmillan|\
    Simon & Schuster|Hachette|Bloomsbury|Faber & Faber|Oxford University Press|\
    Cambridge University Press|Picador|Canongate|Granta|Verso|W. W. Norton|Knopf|\
    Little, Brown|Scribner|Houghton Mifflin|Chatto & Windus|Jonathan Cape|Allen Lane|\
    Profile Books|Princeton University Press|Yale University Press|University of Chicago Press|\
    Routledge|Wiley|Dover|New Directions|Graywolf Press|O'Reilly|MIT Press|Springer|\
    No Starch Press|Pan Books|Fourth Estate|Hodder & Stoughton|Orion|Headline|Virago|\
    Persephone Books|Everyman's Library|Folio Society|Thames & Hudson|Phaidon|Dorling Kindersley";

/// Cookery: cuisines, ingredients and the adjectives cookbooks use.
const CUISINES: &str = "Italian|French|Indian|Mexican|Japanese|Chinese|Thai|Spanish|Greek|\
    Lebanese|Moroccan|Turkish|Korean|Vietnamese|Persian|Ethiopian|Peruvian|Provençal|Basque|\
    Sicilian|Cajun|Caribbean|Scandinavian|Georgian|Polish|Hungarian|Brazilian|Mediterranean|\
    Middle Eastern|Sri Lankan";
const INGREDIENTS: &str = "Vegetables|Rice|Bread|Chocolate|Lemons|Mushrooms|Tomatoes|Fish|Spices|\
    Beans|Eggs|Cheese|Honey|Apples|Noodles|Herbs|Olive Oil|Garlic|Pasta|Grains|Butter|Tofu|\
    Seaweed|Chillies|Pumpkins|Figs|Lentils|Smoke|Fire|Sugar";
const COOK_ADJECTIVES: &str = "Everyday|Vegetarian|Weekend|Slow|Modern|Seasonal|Simple|Complete|\
    Essential|Frugal|Hungry|Busy|Green|Home|Classic|Country|Coastal|Family";

/// Adjectives of the handbook titles ("The Complete Guide to …").
const GUIDE_ADJECTIVES: &str = "Complete|Essential|Practical|Pocket|Illustrated|Beginner's|\
    Rough|Ultimate|Little|Curious|Reader's|Traveller's|Busy Person's|Modern|Definitive";

const CENTURIES: &str = "Twentieth Century|Nineteenth Century|Eighteenth Century|\
    Seventeenth Century|Middle Ages|Age of Reason|Modern World|Ancient World|Twenty-First Century|\
    Victorian Age|Age of Sail|Atomic Age|Jazz Age|Digital Age|Sixteenth Century";

// Foreign-language titles: "<head> <tail>".
const FRENCH_HEADS: &str = "Le Jardin|La Rivière|La Forêt|Le Royaume|L'Île|La Maison|Le Château|\
    La Mémoire|Le Silence|La Chambre|Le Voyage|Les Enfants|La Lumière|Le Secret|L'Été|L'Hiver|\
    Le Bal|La Cuisine|L'Histoire|Les Mémoires";
const FRENCH_TAILS: &str = "des Étoiles|d'Hiver|de Montréal|de Nîmes|du Nord|de ma Mère|des Oiseaux|\
    de la Mer|des Anges|d'Été|sans Nom|de Cendres|du Phare|de Besançon|de l'Aube|des Mensonges|\
    du Cartographe|de Sœur Agnès|de la Géographie|d'un Jardinier";
const SPANISH_HEADS: &str = "El Jardín|La Canción|El Río|La Sombra|El Corazón|La Niña|El Invierno|\
    La Casa|El Silencio|La Isla|El Camino|La Memoria|Los Años|El Último Verano|La Historia|\
    La Cocina";
const SPANISH_TAILS: &str = "de Sevilla|de Bogotá|de los Pájaros|de la Montaña|de mi Abuela|\
    de Córdoba|del Olvido|de Málaga|de la Noche|sin Nombre|del Mar|de las Flores|del Cartógrafo|\
    de Valparaíso|de los Niños|de Cádiz";
const GERMAN_HEADS: &str = "Die Geschichte|Das Geheimnis|Der Garten|Die Reise|Das Schweigen|\
    Die Brücke|Der Wald|Die Insel|Das Haus|Der Traum|Die Stunde|Das Königreich|Die Maschine";
const GERMAN_TAILS: &str = "der Bäume|des Müllers|von Köln|der Wälder|des Nordens|am Fluss|\
    im Winter|über den Bergen|der Schwäne|der Königin|aus Zürich|der Uhrmacherin|vor dem Sturm|\
    zwischen den Welten";

// CJK titles: "<place><particle><thing>", with a subject for some things.
const JAPANESE_PLACES: &str = "東京|京都|大阪|北海道|沖縄|奈良|横浜|鎌倉|神戸|金沢";
const JAPANESE_THINGS: &str = "庭=Gardening|歴史=History|川=Rivers|森=Forests and Forestry|\
    物語=Fiction|料理=Cooking|夜=Fiction|猫=Cats|夏=Fiction|海=Oceans|図書館=Libraries|\
    地図=Maps|島=Islands|王国=Fiction";
const CHINESE_PLACES: &str = "北京|上海|长安|江南|西湖|台北|香港|成都";
const CHINESE_THINGS: &str = "故事=Fiction|历史=History|河流=Rivers|花园=Gardening|秋天=Fiction|\
    夜晚=Fiction|森林=Forests and Forestry|岛屿=Islands|地图=Maps|王国=Fiction|菜谱=Cooking";
const KOREAN_PLACES: &str = "서울|부산|제주|경주|인천";
const KOREAN_THINGS: &str = "역사=History|정원=Gardening|밤=Fiction|바다=Oceans|이야기=Fiction|\
    숲=Forests and Forestry|섬=Islands|지도=Maps|요리=Cooking";

/// People's names by tradition, most frequent first. Latin-script traditions with accents give
/// about one author in five an accented name (Élodie, José, Müller, Dvořák…), counting the
/// French, Spanish and German books; about 3% are in Chinese, Japanese or Korean script.
struct Culture {
    key: &'static str,
    weight: u64,
    first: &'static str,
    last: &'static str,
    /// Written family name first, without a space (CJK).
    family_first: bool,
    /// Used for members too (CJK-script names are authors only: member emails are ASCII).
    members: bool,
}

const CULTURES: &[Culture] = &[
    Culture {
        key: "english",
        weight: 470,
        first: "James|Mary|John|Elizabeth|Robert|Sarah|William|Margaret|David|Anne|Michael|Susan|\
            Thomas|Jane|Richard|Emily|Peter|Catherine|George|Helen|Charles|Alice|Edward|Ruth|Henry|\
            Rachel|Daniel|Rebecca|Paul|Laura|Andrew|Grace|Mark|Claire|Simon|Emma|Christopher|\
            Charlotte|Matthew|Hannah|Stephen|Lucy|Jonathan|Olivia|Benjamin|Katherine|Samuel|Frances|\
            Joseph|Judith|Nicholas|Ada|Alan|Barbara|Donald|Ken|Leslie|Sophie|Karen|Dennis|Lynn|\
            Robin|Hedy|Claude|Tim|Anita|Adele|Lois|Evelyn|Patrick|Fiona|Ian|Moira|Hugh|Iris|Oliver|\
            Agatha|Virginia|Graham|Doris|Arthur|Edith|Walter|Harriet|Ursula|Neil|Zadie|Colm",
        last: "Smith|Jones|Williams|Brown|Taylor|Davies|Wilson|Evans|Thomas|Johnson|Roberts|\
            Walker|Wright|Robinson|Thompson|White|Hughes|Edwards|Green|Hall|Wood|Harris|Lewis|\
            Martin|Jackson|Clarke|Clark|Turner|Hill|Scott|Cooper|Morris|Ward|Moore|King|Watson|\
            Baker|Harrison|Morgan|Patel|Young|Allen|Mitchell|James|Anderson|Phillips|Lee|Bell|\
            Parker|Davis|Lovelace|Turing|Hopper|Knuth|Hamilton|Hoare|Lamport|McCarthy|Ritchie|\
            Conway|Milner|Shannon|Keller|Sammet|Lampson|Goldberg|Boyd|Fitzgerald|O'Brien|O'Connor|\
            Murphy|Kelly|Byrne|Sullivan|Macdonald|Campbell|Stewart|Fraser|Ferguson|Hunter|\
            Blackwood|Ashworth|Hargreaves|Whitfield|Pemberton|Thornton|Carrington|Lockwood|\
            Underhill|Winterbottom|Fairweather|Goodfellow|Holloway",
        family_first: false,
        members: true,
    },
    Culture {
        key: "french",
        weight: 50,
        first: "Marie|Pierre|Élodie|Camille|Julien|Hélène|Claire|François|Luc|Sylvie|Jérôme|\
            Antoine|Chloé|Margaux|Léa|Amélie|René|Benoît|Céline|Gaël|Noël|Agnès|Loïc|Théo|Inès|\
            Zoé|Clément|Étienne|Raphaël|Anaïs|Hervé|Gérard|Mégane|Maëlle",
        last: "Martin|Bernard|Lefèvre|Dubois|Girard|Dupont|Moreau|Laurent|Rousseau|Fournier|\
            Mercier|Lévêque|Chevalier|Bérenger|Leroy|Deschênes|Perrin|Bélanger|Gauthier|Faure|\
            Lemaître|Côté|Brûlé|Müller-Lefèvre|Pélissier|Aubé|Gagné|Thériault",
        family_first: false,
        members: true,
    },
    Culture {
        key: "spanish",
        weight: 50,
        first: "Carlos|José|Elena|María|Pablo|Isabel|Javier|Sofía|Camila|Andrés|Lucía|Martín|\
            Inés|Ramón|Ángel|Raúl|Óscar|Begoña|Iñaki|João|Gonçalo|Mónica|Héctor|Álvaro|\
            Verónica|Tomás|Adrián|Beatriz|Joaquín|Rocío|Sebastián",
        last: "García|Torres|Martínez|Romero|Rodríguez|Castillo|López|Navarro|Hernández|Ortega|\
            Pérez|Vargas|Gómez|Morales|Sánchez|Delgado|Díaz|Núñez|Peña|Muñoz|Jiménez|Gutiérrez|\
            Ibáñez|Álvarez|Fernández|Gonçalves|Araújo|Magalhães|Cortés|Ordóñez|Guzmán|Garcia",
        family_first: false,
        members: true,
    },
    Culture {
        key: "german_nordic",
        weight: 45,
        first: "Klaus|Anna|Jürgen|Lukas|Ingrid|Sven|Björn|Greta|Lars|Søren|Heinrich|Astrid|Jörg|\
            Malte|Jonas|Günther|Åsa|Karin|Sören|Ulrike|Anneliese|Käthe|Märta|Bärbel|Torsten|\
            Hanna|Ole|Sigrid|Øystein",
        last: "Müller|Schmidt|Schneider|Fischer|Schäfer|Meyer|Wagner|Schröder|Becker|Hoffmann|\
            Larsen|Böhm|Köhler|Lindqvist|Krüger|Weiß|Groß|Jørgensen|Sørensen|Åberg|Öberg|\
            Ødegård|Håkansson|Zimmermann|Bergström|Sjöberg|Nyström|Lundqvist|Haugen|Brandt",
        family_first: false,
        members: true,
    },
    Culture {
        key: "central_european",
        weight: 25,
        first: "Łukasz|Wojciech|Małgorzata|Agnieszka|Jiří|Tomáš|Zdeněk|Kateřina|Ádám|Zsófia|\
            Piotr|Anna|Marek|Eva|Pavel|Tomasz|Jana|Krzysztof|Dorota|Miloš|Irena",
        last: "Dvořák|Novák|Wójcik|Kowalczyk|Łukasiewicz|Nowak|Horváth|Kovács|Szabó|Černý|\
            Procházka|Kowalski|Zieliński|Lewandowski|Wiśniewski|Svoboda|Novotný|Němec|Tóth|\
            Nagy",
        family_first: false,
        members: true,
    },
    Culture {
        key: "italian",
        weight: 35,
        first: "Giulia|Niccolò|Chiara|Lorenzo|Matteo|Francesca|Alessandro|Giovanni|Elena|Marco|\
            Federica|Luca|Paola|Sergio|Beatrice|Nicolò",
        last: "Rossi|Bianchi|Esposito|Ricci|Romano|Colombo|De Luca|Caruso|Mancini|Ferrari|\
            Russo|Galli|Conti|Marino|Greco|Bruno|Fontana|Moretti",
        family_first: false,
        members: true,
    },
    Culture {
        key: "turkish",
        weight: 10,
        first: "Ayşe|Gökhan|Mustafa|Elif|Çağla|Emre|Zeynep|Orhan|Şule|Barış",
        last: "Çelik|Öztürk|Şahin|Yılmaz|Kaya|Demir|Aydın|Arslan|Doğan|Koç",
        family_first: false,
        members: true,
    },
    Culture {
        key: "vietnamese",
        weight: 6,
        first: "Minh|Lan|Thảo|Đức|Hương|Tuấn|Linh|Quang",
        last: "Nguyễn|Trần|Lê|Phạm|Hoàng|Đặng|Vũ|Bùi",
        family_first: false,
        members: true,
    },
    Culture {
        key: "african",
        weight: 40,
        first: "Ngozi|Kwame|Amara|Kofi|Thandiwe|Oluwaseun|Wanjiru|Chinedu|Ama|Tendai|Yaw|Nia|\
            Olu|Zainab|Sipho|Efua",
        last: "Okafor|Mensah|Adeyemi|Okonkwo|Mwangi|Diallo|Ndlovu|Boateng|Adichie|Achebe|\
            Owusu|Nwosu|Kamau|Abubakar|Dlamini|Oyelaran",
        family_first: false,
        members: true,
    },
    Culture {
        key: "south_asian",
        weight: 40,
        first: "Ravi|Priya|Arjun|Anjali|Vikram|Meera|Rohan|Kavya|Sanjay|Lakshmi|Amit|Deepa|\
            Farhan|Nisha|Rahul|Shreya",
        last: "Iyer|Sharma|Patel|Gupta|Rao|Banerjee|Chatterjee|Rahman|Khan|Desai|Menon|Reddy|\
            Nair|Kapoor|Bose|Mukherjee",
        family_first: false,
        members: true,
    },
    Culture {
        key: "arabic_persian",
        weight: 25,
        first: "Leila|Omar|Yasmin|Karim|Nour|Samir|Layla|Hassan|Dalia|Tariq|Shirin|Reza",
        last: "Haddad|Khalil|Mansour|Farahani|Hosseini|Saleh|Nasser|Aziz|Karimi|Tehrani",
        family_first: false,
        members: true,
    },
    Culture {
        key: "japanese_latin",
        weight: 15,
        first: "Aiko|Haruki|Yuki|Kenji|Sayaka|Takeshi|Hana|Yukihiro|Hiroshi|Naoko|Kazuo|Banana",
        last: "Sato|Tanaka|Suzuki|Watanabe|Matsumoto|Kobayashi|Yamamoto|Nakamura|Ito|Kato",
        family_first: false,
        members: true,
    },
    Culture {
        key: "chinese_latin",
        weight: 18,
        first: "Mei|Wei|Li|Jun|Xiaoling|Hao|Lin|Yan|Ming|Jing|Xin|Yu",
        last: "Chen|Wang|Zhang|Liu|Huang|Zhao|Wu|Lin|Yang|Zhou",
        family_first: false,
        members: true,
    },
    Culture {
        key: "korean_latin",
        weight: 8,
        first: "Min-jun|Seo-yeon|Ji-woo|Ha-eun|Do-yoon|Soo-bin|Han|Kang",
        last: "Kim|Lee|Park|Choi|Jung|Kang|Cho|Yoon",
        family_first: false,
        members: true,
    },
    Culture {
        key: "japanese",
        weight: 6,
        first: "太郎|花子|翔太|美咲|健一|陽子|大輔|由美|春樹|直子",
        last: "山田|佐藤|鈴木|高橋|田中|渡辺|伊藤|中村|小林|加藤",
        family_first: true,
        members: false,
    },
    Culture {
        key: "chinese",
        weight: 5,
        first: "伟|芳|娜|静|磊|洋|婷|明|丽|强",
        last: "王|李|张|刘|陈|杨|黄|赵|周|吴",
        family_first: true,
        members: false,
    },
    Culture {
        key: "korean",
        weight: 3,
        first: "민준|서연|지우|하은|도윤|수빈|예준|지민",
        last: "김|이|박|최|정|강|조|윤",
        family_first: true,
        members: false,
    },
];

/// The index in [`CULTURES`] of a tradition.
fn culture(key: &str) -> usize {
    CULTURES.iter().position(|c| c.key == key).unwrap_or(0)
}

/// How many authors the catalogue's books are drawn from, and how flat the head of that draw
/// is: the most prolific author has a few dozen books in 10,000, most have one or two.
const AUTHOR_POOL: usize = 4_000;
const AUTHOR_SHIFT: u64 = 100;

/// The long tail of the vocabulary: pronounceable invented names (places, houses, series).
fn invented_words(count: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "br", "c", "d", "dr", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "sh", "t",
        "th", "v", "w", "z", "kr", "tr", "gl", "st", "y", "", "al", "el", "or",
    ];
    const VOWELS: &[&str] = &[
        "a", "e", "i", "o", "u", "ae", "ai", "ea", "ie", "ou", "y", "a", "e",
    ];
    const CODAS: &[&str] = &[
        "", "", "", "n", "r", "l", "s", "th", "m", "nd", "rn", "ld", "v",
    ];
    const ENDINGS: &[&str] = &[
        "mere", "holt", "wick", "dale", "ford", "moor", "haven", "gate", "fell", "wyn", "ia", "or",
        "an", "eth", "ar", "is", "ora", "heim", "mark", "stead", "ion", "ene", "ost",
    ];
    // Nothing that reads as a word a catalogue would not print, nor a benchmark search word.
    const AVOID: &[&str] = &[
        "fuck", "shit", "cunt", "nig", "fag", "rape", "cock", "dick", "slut", "whor", "piss",
        "tit", "nazi", "anal", "anus", "porn", "sex", "garden", "histor", "silent", "machin",
        "guide", "forest", "kingdom", "golden", "island", "cooking", "maps", "river", "kkk",
    ];
    let mut rng = Rng(0x0B1B_110C_A7A1_0605);
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(count);
    while words.len() < count {
        let mut w = String::new();
        let syllables = 1 + rng.below(2) + rng.below(2);
        for _ in 0..syllables {
            w.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
            w.push_str(VOWELS[rng.below(VOWELS.len() as u64) as usize]);
            w.push_str(CODAS[rng.below(CODAS.len() as u64) as usize]);
        }
        if syllables < 3 && rng.below(3) > 0 {
            w.push_str(ENDINGS[rng.below(ENDINGS.len() as u64) as usize]);
        }
        let len = w.chars().count();
        if !(4..=11).contains(&len) || AVOID.iter().any(|a| w.contains(a)) {
            continue;
        }
        let mut chars = w.chars();
        let word: String = chars
            .next()
            .map(|c| c.to_ascii_uppercase())
            .into_iter()
            .chain(chars)
            .collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Words, each with the subject heading a book about it is catalogued under.
type Headed = Zipf<(&'static str, &'static str)>;

/// Splits `"word=heading|…"` into pairs.
fn pairs(list: &'static str) -> Vec<(&'static str, &'static str)> {
    list.split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, p)))
        .collect()
}

struct NameLists {
    first: Zipf<&'static str>,
    last: Zipf<&'static str>,
    family_first: bool,
}

/// Everything titles, authors and subjects are drawn from; the same for every seed.
struct Vocabulary {
    adjectives: Zipf<&'static str>,
    nouns: Zipf<&'static str>,
    plurals: Zipf<&'static str>,
    occupations: Zipf<&'static str>,
    belongings: Zipf<&'static str>,
    places: Zipf<&'static str>,
    invented: Zipf<String>,
    topics: Headed,
    subjects: Zipf<&'static str>,
    fiction_subjects: Zipf<&'static str>,
    series_subjects: Zipf<&'static str>,
    publishers: Zipf<&'static str>,
    cuisines: Zipf<&'static str>,
    ingredients: Zipf<&'static str>,
    cook_adjectives: Zipf<&'static str>,
    guide_adjectives: Zipf<&'static str>,
    centuries: Zipf<&'static str>,
    foreign: [(Zipf<&'static str>, Zipf<&'static str>); 3],
    cjk: [(Zipf<&'static str>, Headed); 3],
    names: Vec<NameLists>,
}

impl Vocabulary {
    fn new() -> Self {
        Self {
            adjectives: Zipf::of(ADJECTIVES, 2),
            nouns: Zipf::of(NOUNS, 2),
            plurals: Zipf::of(PLURALS, 1),
            occupations: Zipf::of(OCCUPATIONS, 1),
            belongings: Zipf::of(BELONGINGS, 1),
            places: Zipf::of(PLACES, 2),
            invented: Zipf::new(invented_words(2_500), 10),
            topics: Zipf::new(pairs(TOPICS), 3),
            subjects: Zipf::of(SUBJECTS, 0),
            fiction_subjects: Zipf::of(FICTION_SUBJECTS, 0),
            series_subjects: Zipf::of(SERIES_SUBJECTS, 0),
            publishers: Zipf::of(PUBLISHERS, 2),
            cuisines: Zipf::of(CUISINES, 1),
            ingredients: Zipf::of(INGREDIENTS, 1),
            cook_adjectives: Zipf::of(COOK_ADJECTIVES, 0),
            guide_adjectives: Zipf::of(GUIDE_ADJECTIVES, 0),
            centuries: Zipf::of(CENTURIES, 1),
            foreign: [
                (Zipf::of(FRENCH_HEADS, 3), Zipf::of(FRENCH_TAILS, 3)),
                (Zipf::of(SPANISH_HEADS, 3), Zipf::of(SPANISH_TAILS, 3)),
                (Zipf::of(GERMAN_HEADS, 3), Zipf::of(GERMAN_TAILS, 3)),
            ],
            cjk: [
                (
                    Zipf::of(JAPANESE_PLACES, 0),
                    Zipf::new(pairs(JAPANESE_THINGS), 0),
                ),
                (
                    Zipf::of(CHINESE_PLACES, 0),
                    Zipf::new(pairs(CHINESE_THINGS), 0),
                ),
                (
                    Zipf::of(KOREAN_PLACES, 0),
                    Zipf::new(pairs(KOREAN_THINGS), 0),
                ),
            ],
            names: CULTURES
                .iter()
                .map(|c| NameLists {
                    first: Zipf::of(c.first, 5),
                    last: Zipf::of(c.last, 4),
                    family_first: c.family_first,
                })
                .collect(),
        }
    }

    /// A name of the given tradition (Zipf over family names: some are very common).
    fn name_of(&self, culture: usize, rng: &mut Rng) -> String {
        let lists = &self.names[culture];
        let first = lists.first.pick(rng);
        let last = lists.last.pick(rng);
        if lists.family_first {
            format!("{last}{first}")
        } else {
            format!("{first} {last}")
        }
    }

    /// A name of a tradition drawn by weight (members: Latin-script traditions only).
    fn name(&self, rng: &mut Rng, members: bool) -> String {
        let weight = |c: &Culture| if members && !c.members { 0 } else { c.weight };
        let mut x = rng.below(CULTURES.iter().map(weight).sum());
        let mut chosen = 0;
        for (i, c) in CULTURES.iter().enumerate() {
            if x < weight(c) {
                chosen = i;
                break;
            }
            x -= weight(c);
        }
        self.name_of(chosen, rng)
    }
}

/// The books' authors: a pool of people drawn with a flattened Zipf, so a few authors have
/// dozens of books and most have one or two.
fn author_pool(vocabulary: &Vocabulary, rng: &mut Rng) -> Zipf<String> {
    Zipf::new(
        (0..AUTHOR_POOL)
            .map(|_| vocabulary.name(rng, false))
            .collect(),
        AUTHOR_SHIFT,
    )
}

/// One generated book (the part of a [`BookSeed`] the catalogue shows).
struct Generated {
    title: String,
    authors: Vec<String>,
    subjects: Vec<&'static str>,
    publisher: &'static str,
}

/// "A" or "An" before a word.
fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "An"
    } else {
        "A"
    }
}

/// The title with its first letter in capitals ("the World: A History" → "The World: …").
fn capitalised(title: String) -> String {
    let mut chars = title.chars();
    match chars.next() {
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => title,
    }
}

fn roman(n: u64) -> &'static str {
    ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"][(n as usize).clamp(1, 10) - 1]
}

/// One catalogue entry. A genre drawn by weight (novels 43%, non-fiction 26%, series 8%,
/// cookery 5%, poems and stories 5%, lives 6%, French/Spanish/German 5%, Japanese/Chinese/
/// Korean 2%) gives the title's templates and the first subject; 0–2 more subjects come from
/// the general headings; authors from the pool, or of the book's language.
fn book(v: &Vocabulary, pool: &Zipf<String>, rng: &mut Rng) -> Generated {
    let mut subjects: Vec<&'static str> = Vec::new();
    let mut authors: Vec<String> = Vec::new();
    let mut publisher = None;
    let title = match rng.below(1_000) {
        // Novels and stories.
        0..=429 => {
            subjects.push(v.fiction_subjects.pick(rng));
            match rng.below(20) {
                0..=3 => format!("The {} {}", v.adjectives.pick(rng), v.nouns.pick(rng)),
                4 => format!("{} {}", v.adjectives.pick(rng), v.plurals.pick(rng)),
                5 => format!("The {} of {}", v.nouns.pick(rng), v.plurals.pick(rng)),
                6 => format!("The {} of {}", v.nouns.pick(rng), v.places.pick(rng)),
                7 => format!("{} of {}", v.plurals.pick(rng), v.invented.draw(rng)),
                8 => format!(
                    "The {}'s {}",
                    v.occupations.pick(rng),
                    v.belongings.pick(rng)
                ),
                9 => format!("The {} and the {}", v.nouns.pick(rng), v.nouns.pick(rng)),
                10 => format!(
                    "{} and the {} {}",
                    v.name_of(0, rng).split(' ').next().unwrap_or("Ada"),
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng)
                ),
                11 => {
                    let noun = v.nouns.pick(rng);
                    format!("{} {noun} in {}", article(noun), v.places.pick(rng))
                }
                12 => format!(
                    "The Last {} of {}",
                    v.occupations.pick(rng),
                    v.invented.draw(rng)
                ),
                13 => format!("The House of {}", v.invented.draw(rng)),
                14 => format!("The {} Inheritance", v.invented.draw(rng)),
                15 => format!("Return to {}", v.invented.draw(rng)),
                16 => format!("{} {}: A Novel", v.adjectives.pick(rng), v.nouns.pick(rng)),
                17 => format!("{} and {}", v.plurals.pick(rng), v.plurals.pick(rng)),
                18 => format!(
                    "The {} {} of {}",
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng),
                    v.invented.draw(rng)
                ),
                _ => format!(
                    "Where the {} {}",
                    v.plurals.pick(rng),
                    ["Sleep", "Sing", "Fall", "Burn", "Wait", "End", "Go", "Hide"]
                        [rng.below(8) as usize]
                ),
            }
        }
        // Non-fiction on a topic, catalogued under the topic's heading.
        430..=689 => {
            let (topic, heading) = *v.topics.draw(rng);
            subjects.push(heading);
            let template = rng.below(20);
            let title = match template {
                0..=1 => format!("A History of {topic}"),
                2 => format!("A Short History of {topic}"),
                3 => format!("{topic}: A History"),
                4 => format!("The {} History of {topic}", v.adjectives.pick(rng)),
                5 => {
                    subjects.push("History");
                    format!("{topic} in the {}", v.centuries.pick(rng))
                }
                6 => format!("{topic}: A Very Short Introduction"),
                7 => format!("An Introduction to {topic}"),
                8 => format!("The {} Guide to {topic}", v.guide_adjectives.pick(rng)),
                9 => format!("{topic} for Beginners"),
                10 => format!("Understanding {topic}"),
                11 if topic == "Art" => "The Story of Art".to_owned(),
                11 => format!("The Art of {topic}"),
                12 => {
                    let (other, other_heading) = *v.topics.draw(rng);
                    subjects.push(other_heading);
                    format!("{topic} and {other}")
                }
                13 => format!("{topic} in {}", v.places.pick(rng)),
                14 => format!(
                    "{topic}: {} {} and {} {}",
                    v.adjectives.pick(rng),
                    v.plurals.pick(rng),
                    v.adjectives.pick(rng),
                    v.plurals.pick(rng)
                ),
                15 => format!("The {} of {topic}", v.nouns.pick(rng)),
                16 => format!(
                    "{topic}: {}",
                    [
                        "Theory and Practice",
                        "Principles and Practice",
                        "A Practical Handbook",
                        "A Reader",
                        "New Perspectives",
                        "Essays",
                        "A Critical Introduction",
                        "The Basics",
                    ][rng.below(8) as usize]
                ),
                17 => format!("Why {topic} Matters"),
                18 => format!(
                    "The {} {}: {}",
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng),
                    capitalised(topic.to_owned())
                ),
                _ => format!(
                    "{topic} and the {} {}",
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng)
                ),
            };
            // Half the plain titles get a catchy main title: "Stars and Bones: A History of …".
            if matches!(template, 0..=2 | 7 | 9..=11 | 17) && rng.below(2) == 0 {
                let catchy = match rng.below(4) {
                    0 => format!("The {} {}", v.adjectives.pick(rng), v.nouns.pick(rng)),
                    1 => format!("{} and {}", v.plurals.pick(rng), v.plurals.pick(rng)),
                    2 => format!("{} of {}", v.nouns.pick(rng), v.plurals.pick(rng)),
                    _ => format!("{} {}", v.adjectives.pick(rng), v.plurals.pick(rng)),
                };
                format!("{catchy}: {}", capitalised(title))
            } else {
                title
            }
        }
        // Series, with volume numbers.
        690..=769 => {
            subjects.push(v.series_subjects.pick(rng));
            let place = v.invented.draw(rng);
            let volume = 1 + rng.below(7).min(rng.below(7));
            match rng.below(5) {
                0 => format!("The {place} Chronicles, Book {volume}"),
                1 => format!(
                    "The {} {}: The {place} Saga, Volume {volume}",
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng)
                ),
                2 => format!("Tales of {place} {}", roman(volume)),
                3 => format!(
                    "{} of {place} (The {} Cycle, Book {volume})",
                    v.plurals.pick(rng),
                    v.adjectives.pick(rng)
                ),
                _ => format!(
                    "The {} {}: {place}, Book {volume}",
                    v.adjectives.pick(rng),
                    v.occupations.pick(rng)
                ),
            }
        }
        // Cookery.
        770..=819 => {
            let cuisine = v.cuisines.pick(rng);
            subjects.push("Cooking");
            match rng.below(8) {
                0 => format!("{cuisine} Cooking"),
                1 => format!("The {cuisine} Kitchen"),
                2 => format!("{} {cuisine} Cooking", v.cook_adjectives.pick(rng)),
                3 => format!(
                    "Cooking with {} and {}",
                    v.ingredients.pick(rng),
                    v.ingredients.pick(rng)
                ),
                4 => format!(
                    "{}: Recipes from {}",
                    v.ingredients.pick(rng),
                    v.places.pick(rng)
                ),
                5 => format!("The {} {cuisine} Cook", v.cook_adjectives.pick(rng)),
                6 => format!(
                    "A Year of {}: {} {cuisine} Recipes",
                    v.ingredients.pick(rng),
                    v.cook_adjectives.pick(rng)
                ),
                _ => format!("Simple {cuisine} Food"),
            }
        }
        // Poems and short stories.
        820..=869 => {
            let poems = rng.below(2) == 0;
            subjects.push(if poems { "Poetry" } else { "Short Stories" });
            let kind = if poems { "Poems" } else { "Stories" };
            match rng.below(7) {
                0 => format!("{}: {kind}", v.plurals.pick(rng)),
                1 => format!(
                    "{} {kind}",
                    ["Selected", "Collected", "New and Selected", "Early", "Late"]
                        [rng.below(5) as usize]
                ),
                2 => format!("The {} and Other {kind}", v.nouns.pick(rng)),
                3 => format!(
                    "The {} {} and Other {kind}",
                    v.adjectives.pick(rng),
                    v.nouns.pick(rng)
                ),
                4 => format!("{kind} from {}", v.places.pick(rng)),
                5 => format!("Songs of {}", v.plurals.pick(rng)),
                _ => format!("{} {}", v.adjectives.pick(rng), v.plurals.pick(rng)),
            }
        }
        // Lives.
        870..=929 => {
            subjects.push(
                ["Biography", "Biography", "Memoirs", "Autobiography"][rng.below(4) as usize],
            );
            if rng.below(3) == 0 {
                subjects.push("History");
            }
            let person = pool.draw(rng).clone();
            match rng.below(6) {
                0 => format!("{person}: A Life"),
                1 => format!("The Life of {person}"),
                2 => format!("{person}: A Biography"),
                3 => {
                    let who = v.occupations.pick(rng);
                    format!(
                        "Memoirs of {} {who} in {}",
                        article(who).to_lowercase(),
                        v.places.pick(rng)
                    )
                }
                4 => format!("The Letters of {person}"),
                _ => {
                    let who = v.occupations.pick(rng);
                    format!("{} {who}'s Life in {}", article(who), v.places.pick(rng))
                }
            }
        }
        // Books in French, Spanish or German, by authors of that tradition.
        930..=979 => {
            let which = rng.below(3) as usize;
            let (heads, tails) = &v.foreign[which];
            let culture = culture(["french", "spanish", "german_nordic"][which]);
            subjects.push(
                [
                    "French Literature",
                    "Spanish Literature",
                    "German Literature",
                ][which],
            );
            authors.push(v.name_of(culture, rng));
            publisher = Some(
                [
                    ["Gallimard", "Éditions du Seuil", "Actes Sud", "Flammarion"],
                    ["Anagrama", "Alfaguara", "Tusquets", "Seix Barral"],
                    ["Suhrkamp", "Hanser", "Rowohlt", "S. Fischer"],
                ][which][rng.below(4) as usize],
            );
            format!("{} {}", heads.pick(rng), tails.pick(rng))
        }
        // Books in Japanese, Chinese or Korean, by authors named in that script.
        _ => {
            let which = [0, 0, 0, 1, 1, 2][rng.below(6) as usize];
            let (places, things) = &v.cjk[which];
            let place = places.pick(rng);
            let (thing, heading) = *things.draw(rng);
            subjects.push(
                [
                    "Japanese Literature",
                    "Chinese Literature",
                    "Korean Literature",
                ][which],
            );
            subjects.push(heading);
            authors.push(v.name_of(culture(["japanese", "chinese", "korean"][which]), rng));
            publisher = Some(
                [
                    ["新潮社", "講談社", "岩波書店", "文藝春秋"],
                    ["人民文学出版社", "商务印书馆", "中华书局", "上海译文出版社"],
                    ["민음사", "문학동네", "창비", "열린책들"],
                ][which][rng.below(4) as usize],
            );
            match which {
                0 => format!("{place}の{thing}"),
                1 => format!("{place}的{thing}"),
                _ => format!("{place}의 {thing}"),
            }
        }
    };
    if authors.is_empty() {
        let n =
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3][rng.below(20) as usize];
        while authors.len() < n {
            let a = pool.draw(rng);
            if !authors.contains(a) {
                authors.push(a.clone());
            }
        }
    }
    for _ in 0..[0, 0, 1, 1, 1, 2][rng.below(6) as usize] {
        let s = v.subjects.pick(rng);
        if !subjects.contains(&s) {
            subjects.push(s);
        }
    }
    Generated {
        title: capitalised(title),
        authors,
        subjects,
        publisher: publisher.unwrap_or_else(|| v.publishers.pick(rng)),
    }
}

/// Independent draws for members, books and loans, so each depends on the seed alone.
fn stream(seed: u64, which: u64) -> Rng {
    Rng(seed ^ which.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The books of a seed: ids from `first_id`; the same seed gives the same books.
fn generate_books(seed: u64, first_id: u64, count: u64) -> Vec<BookSeed> {
    let vocabulary = Vocabulary::new();
    let mut rng = stream(seed, 1);
    let pool = author_pool(&vocabulary, &mut rng);
    (0..count)
        .map(|i| {
            let id = first_id + i;
            // Multiplying by a prime coprime with 10^9 is a bijection mod 10^9: distinct ISBNs.
            let isbn = Isbn::from_prefix12(978_000_000_000 + (id * 104_729) % 1_000_000_000);
            let g = book(&vocabulary, &pool, &mut rng);
            // 1900–2025, more recent books more likely (the youngest of three draws).
            let age = rng.below(126).min(rng.below(126)).min(rng.below(126));
            let copies = [1, 1, 2, 2, 2, 3, 3, 4, 5][rng.below(9) as usize];
            BookSeed {
                id,
                isbn: isbn.to_string(),
                title: g.title,
                authors: g.authors.join("\n"),
                publisher: g.publisher.to_owned(),
                year: 2025 - age as i32,
                subjects: g.subjects.join("\n"),
                copies_total: copies,
                out: 0,
            }
        })
        .collect()
}

/// The catalogue a seed generates, as the API shows it (ids from 1, every copy on the shelf),
/// without a database: for the search benchmarks at any size. The same books as `biblio-api seed
/// --seed <seed>` inserts into an empty database, loans aside.
pub fn synthetic_books(count: u64, seed: u64) -> Vec<Book> {
    generate_books(seed, 1, count)
        .into_iter()
        .map(|b| Book {
            id: BookId(b.id),
            isbn: b.isbn,
            title: b.title,
            authors: b.authors.lines().map(str::to_owned).collect(),
            publisher: Some(b.publisher),
            year: Some(b.year),
            subjects: b.subjects.lines().map(str::to_owned).collect(),
            copies_total: b.copies_total,
            copies_available: b.copies_total,
        })
        .collect()
}

/// `Élodie Lefèvre` → `elodie.lefevre`: ASCII for member emails.
fn email_local(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.to_lowercase().chars() {
        let folded = match c {
            'a'..='z' | '0'..='9' | '-' => {
                out.push(c);
                continue;
            }
            ' ' => ".",
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' | 'ả' | 'ạ' | 'ầ' => {
                "a"
            }
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' | 'ễ' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' | 'ị' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' | 'ơ' | 'ố' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ť' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ư' | 'ứ' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

/// The members of a seed: member 1 of an empty database is the librarian.
fn generate_members(
    seed: u64,
    first_id: u64,
    count: u64,
) -> Vec<(u64, String, String, &'static str)> {
    let vocabulary = Vocabulary::new();
    let mut rng = stream(seed, 0);
    (0..count)
        .map(|i| {
            let id = first_id + i;
            let name = vocabulary.name(&mut rng, true);
            let (email, role) = if id == 1 {
                (SEED_LIBRARIAN.to_owned(), "librarian")
            } else {
                // The id keeps emails unique when seeding a non-empty database.
                (
                    format!("{}.{id}@members.biblio.example", email_local(&name)),
                    "member",
                )
            };
            (id, name, email, role)
        })
        .collect()
}

/// Rows per INSERT: well under MySQL's 65,535 placeholders, big enough to amortise round trips.
const CHUNK: usize = 2_000;

pub async fn run(settings: &Settings, args: &SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = storage::connect(settings.database_url.expose(), &settings.pool).await?;
    storage::migrate(&db).await?;
    let mut conn = db.pool().acquire().await?.detach();
    let books_present: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM books")
        .fetch_one(&mut conn)
        .await?;
    if args.if_empty && books_present > 0 {
        tracing::info!(
            books = books_present,
            "database already seeded; nothing to do"
        );
        return Ok(());
    }
    let counts = seed(&mut conn, args, Utc::now()).await?;
    tracing::info!(
        members = counts.members,
        books = counts.books,
        loans = counts.loans,
        loan_items = counts.loan_items,
        active_loans = counts.active_loans,
        seconds = started.elapsed().as_secs_f64(),
        "seed complete"
    );
    Ok(())
}

/// What a seed inserted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedCounts {
    pub members: u64,
    pub books: u64,
    pub loans: u64,
    pub loan_items: u64,
    pub active_loans: u64,
}

/// Generates and inserts the data on one connection. Ids are assigned here (after the current
/// maximum), so loan items can reference loans without reading ids back.
pub async fn seed(
    conn: &mut MySqlConnection,
    args: &SeedArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<SeedCounts> {
    let now = now.trunc_subsecs(0);
    let hash = crate::auth::hash_password_blocking(SEED_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    macro_rules! next_id {
        ($table:literal) => {
            sqlx::query_scalar::<_, u64>(concat!(
                "SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM ",
                $table
            ))
            .fetch_one(&mut *conn)
            .await?
                + 1
        };
    }
    let first_member = next_id!("members");
    let first_book = next_id!("books");
    let first_loan = next_id!("loans");

    let total_rows = u64::from(args.members) + u64::from(args.books) + u64::from(args.loans);
    let bar = ProgressBar::new(total_rows).with_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} rows ({elapsed})")
            .map_err(|e| anyhow::anyhow!("progress template: {e}"))?
            .progress_chars("=> "),
    );

    let members = generate_members(args.seed, first_member, u64::from(args.members));
    let mut books = generate_books(args.seed, first_book, u64::from(args.books));
    let mut rng = stream(args.seed, 2);

    // Loans over the last two years, oldest first. The last ~3% are recent and still out when
    // copies and the member's limit allow; everything else was returned.
    let n_loans = u64::from(args.loans);
    let span_secs = 730 * 86_400_i64;
    let active_from = n_loans - n_loans * 3 / 100;
    let mut held = vec![0i32; members.len()];
    let mut loans: Vec<LoanSeed> = Vec::with_capacity(n_loans as usize);
    let mut items: Vec<(u64, u64)> = Vec::with_capacity(n_loans as usize * 3);
    let mut active_loans = 0;
    for i in 0..n_loans {
        if members.is_empty() || books.is_empty() {
            break;
        }
        let id = first_loan + i;
        let m = rng.below(members.len() as u64) as usize;
        let want = (1 + rng.below(5)) as usize;
        let mut picked: Vec<usize> = Vec::with_capacity(want);
        while picked.len() < want.min(books.len()) {
            let b = rng.below(books.len() as u64) as usize;
            if !picked.contains(&b) {
                picked.push(b);
            }
        }
        picked.sort_unstable();
        let created = now
            - Duration::seconds(span_secs - span_secs * i as i64 / n_loans as i64)
            - Duration::seconds(rng.below(3_600) as i64);
        let due = created + Duration::days(LOAN_DAYS);
        let can_stay_out = i >= active_from
            && held[m] + picked.len() as i32 <= MAX_BOOKS_PER_MEMBER
            && picked
                .iter()
                .all(|b| books[*b].out < books[*b].copies_total);
        let returned = if can_stay_out {
            held[m] += picked.len() as i32;
            for b in &picked {
                books[*b].out += 1;
            }
            active_loans += 1;
            None
        } else {
            Some((created + Duration::seconds(3_600 + rng.below(20 * 86_400) as i64)).min(now))
        };
        for b in &picked {
            items.push((id, books[*b].id));
        }
        loans.push(LoanSeed {
            id,
            member: members[m].0,
            count: picked.len() as i32,
            created,
            due,
            returned,
        });
    }

    let mut tx = conn.begin().await?;
    // The data is consistent by construction; checking each foreign key row by row only slows
    // the bulk load. Session-scoped, and restored before commit.
    sqlx::query("SET SESSION foreign_key_checks = 0")
        .execute(&mut *tx)
        .await?;

    bar.set_message("members");
    for chunk in members.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO members (id, name, email, role, password_hash, books_on_loan, created_at) ",
        );
        q.push_values(chunk, |mut row, (id, name, email, role)| {
            let index = (*id - first_member) as usize;
            row.push_bind(*id)
                .push_bind(name)
                .push_bind(email)
                .push_bind(*role)
                .push_bind(&hash)
                .push_bind(held[index])
                .push_bind(now - Duration::days(800));
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting members")?;
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("books");
    for chunk in books.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO books (id, isbn, title, authors, publisher, year, subjects, copies_total, copies_available, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, b| {
            row.push_bind(b.id)
                .push_bind(&b.isbn)
                .push_bind(&b.title)
                .push_bind(&b.authors)
                .push_bind(&b.publisher)
                .push_bind(b.year)
                .push_bind(&b.subjects)
                .push_bind(b.copies_total)
                .push_bind(b.copies_total - b.out)
                .push_bind(now - Duration::days(800))
                .push_bind(now);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting books")?;
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("loans");
    for chunk in loans.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO loans (id, member_id, book_count, created_at, due_at, returned_at) ",
        );
        q.push_values(chunk, |mut row, l| {
            row.push_bind(l.id)
                .push_bind(l.member)
                .push_bind(l.count)
                .push_bind(l.created)
                .push_bind(l.due)
                .push_bind(l.returned);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting loans")?;
        bar.inc(chunk.len() as u64);
    }
    for chunk in items.chunks(CHUNK * 2) {
        let mut q = QueryBuilder::<MySql>::new("INSERT INTO loan_items (loan_id, book_id) ");
        q.push_values(chunk, |mut row, (loan, book)| {
            row.push_bind(*loan).push_bind(*book);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting loan items")?;
    }
    sqlx::query("SET SESSION foreign_key_checks = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    bar.finish_with_message("done");

    Ok(SeedCounts {
        members: members.len() as u64,
        books: books.len() as u64,
        loans: loans.len() as u64,
        loan_items: items.len() as u64,
        active_loans,
    })
}

#[derive(Debug, PartialEq)]
struct BookSeed {
    id: u64,
    isbn: String,
    title: String,
    authors: String,
    publisher: String,
    year: i32,
    subjects: String,
    copies_total: i32,
    /// Copies out on the loans that stay active.
    out: i32,
}

struct LoanSeed {
    id: u64,
    member: u64,
    count: i32,
    created: DateTime<Utc>,
    due: DateTime<Utc>,
    returned: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;

    /// The default volume.
    const BOOKS: u64 = 10_000;

    /// The words of a text as a full-text index sees them: alphanumeric runs, lowercased.
    fn words(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
    }

    /// How many books a benchmark search for `word` finds: the same prefix match as the
    /// catalogue's full-text query (`+word*` over title, authors and subjects).
    fn matching(books: &[BookSeed], word: &str) -> usize {
        books
            .iter()
            .filter(|b| {
                [&b.title, &b.authors, &b.subjects]
                    .iter()
                    .any(|t| words(t).any(|w| w.starts_with(word)))
            })
            .count()
    }

    /// The exponent s of frequency ∝ rank^-s, fitted by least squares on log–log over the first
    /// `ranks` ranks of counts sorted in descending order.
    fn zipf_exponent(counts: &[usize], ranks: usize) -> f64 {
        let points: Vec<(f64, f64)> = counts
            .iter()
            .take(ranks)
            .enumerate()
            .map(|(i, &n)| (((i + 1) as f64).ln(), (n as f64).ln()))
            .collect();
        let len = points.len() as f64;
        let (mx, my) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / len, y + p.1 / len));
        let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(xy, xx), p| {
            (xy + (p.0 - mx) * (p.1 - my), xx + (p.0 - mx) * (p.0 - mx))
        });
        -sxy / sxx
    }

    #[test]
    fn the_generator_is_deterministic() {
        let a: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng(8);
            (0..5).map(|_| r.next()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_same_seed_gives_the_same_books_and_members() {
        let one = generate_books(42, 1, 2_000);
        assert_eq!(one, generate_books(42, 1, 2_000));
        let other = generate_books(43, 1, 2_000);
        let same_titles = one
            .iter()
            .zip(&other)
            .filter(|(a, b)| a.title == b.title)
            .count();
        assert!(
            same_titles < 200,
            "another seed, other books ({same_titles} alike)"
        );
        assert_eq!(generate_members(42, 1, 500), generate_members(42, 1, 500));
        assert_ne!(generate_members(42, 1, 500), generate_members(43, 1, 500));
    }

    #[test]
    fn titles_are_varied() {
        let books = generate_books(42, 1, BOOKS);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for b in &books {
            *counts.entry(&b.title).or_default() += 1;
        }
        assert!(counts.len() >= 7_000, "{} distinct titles", counts.len());
        let most = counts.values().max().copied().unwrap_or(0);
        assert!(
            most <= 40,
            "no title is everywhere (the most common: {most} books)"
        );
        let authors: HashSet<&str> = books.iter().flat_map(|b| b.authors.lines()).collect();
        assert!(authors.len() >= 2_000, "{} distinct authors", authors.len());
    }

    #[test]
    fn title_words_follow_a_zipf_like_distribution() {
        const FUNCTION_WORDS: &[&str] = &["the", "of", "and", "a", "an", "in", "to", "for", "from"];
        let books = generate_books(42, 1, BOOKS);
        let ranked = |content_only: bool| {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for b in &books {
                for w in words(&b.title) {
                    if !(content_only && FUNCTION_WORDS.contains(&w.as_str())) {
                        *counts.entry(w).or_default() += 1;
                    }
                }
            }
            let mut ranked: Vec<usize> = counts.into_values().collect();
            ranked.sort_unstable_by(|a, b| b.cmp(a));
            ranked
        };
        for (which, ranked) in [("all", ranked(false)), ("content", ranked(true))] {
            assert!(
                ranked.len() >= 2_000,
                "{} distinct title words",
                ranked.len()
            );
            let (first, hundredth) = (ranked[0], ranked[99]);
            assert!(
                first >= 10 * hundredth,
                "{which} words: the most frequent ({first}) is 10× the 100th ({hundredth})"
            );
            // frequency ∝ rank^-s with s near 1 over the first thousand ranks.
            let s = zipf_exponent(&ranked, 1_000);
            assert!((0.8..=1.3).contains(&s), "{which} words: exponent {s:.2}");
            // A long tail: most words are rare.
            let rare = ranked.iter().filter(|&&n| n <= 3).count();
            assert!(
                rare * 2 > ranked.len(),
                "{rare} of {} words are rare",
                ranked.len()
            );
        }
    }

    #[test]
    fn synthetic_books_are_the_seeded_catalogue() {
        let books = synthetic_books(300, 7);
        let seeded = generate_books(7, 1, 300);
        assert_eq!(books.len(), 300);
        for (book, seed) in books.iter().zip(&seeded) {
            assert_eq!(book.id, BookId(seed.id));
            assert_eq!((&book.isbn, &book.title), (&seed.isbn, &seed.title));
            assert_eq!(book.authors.join("\n"), seed.authors);
            assert_eq!(book.subjects.join("\n"), seed.subjects);
            assert_eq!(book.copies_available, book.copies_total);
        }
    }

    #[test]
    fn every_isbn_is_valid_and_unique() {
        let books = generate_books(42, 1, BOOKS);
        let mut seen = HashSet::new();
        for b in &books {
            assert!(
                Isbn::parse(&b.isbn).is_ok(),
                "{} has a valid check digit",
                b.isbn
            );
            assert!(seen.insert(b.isbn.clone()), "{} is unique", b.isbn);
        }
    }

    #[test]
    fn the_benchmark_words_keep_their_breadth() {
        // xtask's load, bench and bench-web search for these words; docs/BENCHMARKS.md reads
        // "history" as a broad word and "garden" as a narrow one.
        let books = generate_books(42, 1, BOOKS);
        let n = |w| matching(&books, w);
        let history = n("history");
        assert!((2_500..=4_000).contains(&history), "history: {history}");
        let garden = n("garden");
        assert!((300..=900).contains(&garden), "garden: {garden}");
        for word in [
            "river", "silent", "machine", "guide", "forest", "kingdom", "golden", "island",
            "cooking", "maps",
        ] {
            let found = n(word);
            assert!((50..history).contains(&found), "{word}: {found}");
        }
    }

    #[test]
    fn authors_include_accented_and_cjk_names() {
        let books = generate_books(42, 1, BOOKS);
        let authors: Vec<&str> = books.iter().flat_map(|b| b.authors.lines()).collect();
        let accented = authors
            .iter()
            .filter(|a| {
                a.chars()
                    .any(|c| c.is_alphabetic() && !c.is_ascii() && c < '\u{2E80}')
            })
            .count();
        let cjk = authors
            .iter()
            .filter(|a| a.chars().any(|c| c >= '\u{2E80}'))
            .count();
        let share = accented * 100 / authors.len();
        assert!((8..=25).contains(&share), "{share}% accented authors");
        assert!(cjk >= 50, "{cjk} authors in CJK script");
        let cjk_titles = books
            .iter()
            .filter(|b| b.title.chars().any(|c| c >= '\u{2E80}'))
            .count();
        assert!(cjk_titles >= 50, "{cjk_titles} CJK titles");
        assert!(books.iter().any(|b| b.title.contains("東京")));
        for name in ["Élodie", "José", "Müller"] {
            assert!(authors.iter().any(|a| a.contains(name)), "{name}");
        }
    }

    #[test]
    fn members_have_ascii_emails_and_some_accented_names() {
        let members = generate_members(42, 1, 1_000);
        assert_eq!(members[0].2, SEED_LIBRARIAN);
        let mut emails = HashSet::new();
        for (_, name, email, _) in &members {
            let local = email.split('@').next().unwrap_or_default();
            assert!(
                local
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
                "{name}: {email}"
            );
            assert!(!local.starts_with('.'), "{name}: {email}");
            assert!(emails.insert(email.clone()), "{email} is unique");
        }
        assert!(
            members.iter().any(|m| !m.1.is_ascii()),
            "some accented names"
        );
        assert_eq!(email_local("Élodie Lefèvre"), "elodie.lefevre");
        assert_eq!(email_local("Jürgen Groß"), "jurgen.gross");
    }

    #[test]
    fn years_span_the_century_skewed_to_recent() {
        let books = generate_books(42, 1, BOOKS);
        assert!(books.iter().all(|b| (1900..=2025).contains(&b.year)));
        let recent = books.iter().filter(|b| b.year >= 1990).count();
        let old = books.iter().filter(|b| b.year < 1936).count();
        assert!(recent > 3 * old, "{recent} since 1990, {old} before 1936");
    }

    /// Prints the figures the seed is tuned by: `cargo test -p biblio-api --lib seed::tests::stats -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints figures"]
    fn stats() {
        let books = generate_books(42, 1, BOOKS);
        let distinct: HashSet<&str> = books.iter().map(|b| b.title.as_str()).collect();
        println!("distinct titles: {}", distinct.len());
        let top = |it: Vec<String>, n: usize| {
            let mut c: BTreeMap<String, usize> = BTreeMap::new();
            for x in it {
                *c.entry(x).or_default() += 1;
            }
            let mut v: Vec<(String, usize)> = c.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let len = v.len();
            v.truncate(n);
            (len, v)
        };
        println!(
            "titles: {:?}",
            top(books.iter().map(|b| b.title.clone()).collect(), 10)
        );
        println!(
            "words: {:?}",
            top(
                books
                    .iter()
                    .flat_map(|b| words(&b.title).collect::<Vec<_>>())
                    .collect(),
                30
            )
        );
        let (n, t) = top(
            books
                .iter()
                .flat_map(|b| words(&b.title).collect::<Vec<_>>())
                .collect(),
            100,
        );
        println!("distinct words {n}, 100th: {:?}", t.last());
        let slope = |all: bool| {
            let mut c: HashMap<String, usize> = HashMap::new();
            for b in &books {
                for w in words(&b.title).filter(|w| {
                    all || !["the", "of", "and", "a", "an", "in", "to", "for", "from"]
                        .contains(&w.as_str())
                }) {
                    *c.entry(w).or_default() += 1;
                }
            }
            let mut r: Vec<usize> = c.into_values().collect();
            r.sort_unstable_by(|a, b| b.cmp(a));
            (zipf_exponent(&r, 1_000), r[0], r[9], r[99], r[999])
        };
        println!("slope all {:?}, content {:?}", slope(true), slope(false));
        println!(
            "authors: {:?}",
            top(
                books
                    .iter()
                    .flat_map(|b| b.authors.lines().map(str::to_owned).collect::<Vec<_>>())
                    .collect(),
                15
            )
        );
        println!(
            "subjects: {:?}",
            top(
                books
                    .iter()
                    .flat_map(|b| b.subjects.lines().map(str::to_owned).collect::<Vec<_>>())
                    .collect(),
                20
            )
        );
        println!(
            "publishers: {:?}",
            top(books.iter().map(|b| b.publisher.clone()).collect(), 8)
        );
        for w in [
            "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom",
            "golden", "island", "cooking", "maps",
        ] {
            println!("{w}: {}", matching(&books, w));
        }
        for b in books.iter().take(40) {
            println!(
                "{} | {} | {} | {} | {}",
                b.title,
                b.authors.replace('\n', "; "),
                b.subjects.replace('\n', "; "),
                b.publisher,
                b.year
            );
        }
    }
}
