"""Chapter 1's library: a small ResNet written in torch, and the three steps of transfer learning.

The network follows He et al. (2016), "Deep Residual Learning for Image Recognition", scaled down
for 28x28 grey images: a 5x5 stride-2 stem, stages of :class:`BasicBlock` (the first block of
every stage after the first halves the resolution and widens the channels), global average
pooling and one linear layer ``fc``. The head is called ``fc`` as in torchvision's ResNets, so the
transfer helpers (:func:`replace_head`, :func:`freeze_backbone`, :func:`param_groups`) work
unchanged on ``torchvision.models.resnet50(weights=...)`` where it can be downloaded.

Used by the book page, the zoo recipes (``tlcourse.recipes.vision``) and the assignment's checks.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Pixel statistics of the Fashion-MNIST training images, the source task. Like the ImageNet
# mean/std of torchvision models, the target images are normalised with the *source* statistics:
# the pre-trained filters expect inputs on that scale.
MEAN, STD = 0.286, 0.353


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28), normalised with MEAN and STD."""
    return (torch.from_numpy(np.asarray(images)).float().unsqueeze(1) / 255.0 - MEAN) / STD


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection: relu(F(x) + shortcut(x)).

    The shortcut is the identity when the shape is unchanged; when ``stride`` or the number of
    channels changes it is a projection, a strided 1x1 convolution followed by batch norm
    (option B of He et al.), so that it can be added to F(x).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()                       # identity: no parameters
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:      # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))                # the ReLU comes after the addition


class ResNet(nn.Module):
    """stem -> stages -> global average pooling -> fc.

    The stem is a 5x5 convolution with stride 2 (ResNet-50's is 7x7 with stride 2, then a max
    pool: 28x28 images need less shrinking), then batch norm and ReLU. ``widths[i]`` channels and
    ``depths[i]`` blocks in stage i; stage 0 keeps the resolution, every later stage starts with a
    stride-2 block. With the defaults a 28x28 image becomes 16x14x14 (stem and stage 0) ->
    32x7x7 -> 64x4x4 -> a 64-dimensional feature vector.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64), depths: Sequence[int] = (1, 1, 1),
                 num_classes: int = 10, in_channels: int = 1, block: type = BasicBlock):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 5, stride=2, padding=2, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, channels = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths)):
            blocks = [block(channels, width, stride=1 if i == 0 else 2)]
            blocks += [block(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:    # (B, C, H, W) -> (B, widths[-1])
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:     # (B, C, H, W) -> logits (B, num_classes)
        return self.fc(self.features(x))


# --------------------------------------------------------------------------- transfer
def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Keep the backbone, put a new randomly initialised ``fc`` with ``num_classes`` outputs."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def freeze_backbone(model: nn.Module) -> int:
    """Freeze everything but ``fc``; return the number of parameters left trainable.

    Freezing is two things: no gradient for the backbone's weights, and its batch-norm layers in
    eval mode, so they normalise with the statistics learned on the source task and stop
    updating them (``requires_grad`` does not cover running statistics, which are buffers).
    Call it after ``model.train()``, which would put them back in training mode.
    """
    for name, module in model.named_children():
        if name == "fc":
            continue
        module.requires_grad_(False)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def param_groups(model: nn.Module, lr: float, backbone_lr: float) -> list[dict]:
    """Two optimizer groups that split the parameters: the backbone at ``backbone_lr``, the
    head ``fc`` at ``lr``. Each parameter is in exactly one group."""
    head = list(model.fc.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    return [{"params": backbone, "lr": backbone_lr}, {"params": head, "lr": lr}]


# --------------------------------------------------------------------------- training
def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` random examples of every class (a label budget of
    ``per_class * n_classes``), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
             for c in np.unique(labels)]
    return rng.permutation(np.concatenate(picks))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class predictions (N,) in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def embed(model: ResNet, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The backbone's pooled features (N, widths[-1]) in eval mode; the mode is restored."""
    was_training = model.training
    model.eval()
    out = torch.cat([model.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x) == y).float().mean())


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, optimizer,
        schedule=None, batch_size: int = 64, frozen: bool = False, seed: int = 0, eval_every: int = 0,
        x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        train_eval_size: int | None = None, progress=None) -> dict:
    """Train ``model`` for ``steps`` minibatch steps of cross-entropy on (x, y).

    Minibatches are drawn by reshuffling the examples each epoch (with ``seed``); ``schedule``,
    a learning-rate scheduler, is stepped after every optimizer step. ``frozen``
    re-freezes the backbone's batch norm after ``model.train()``. Every ``eval_every`` steps the
    history records the accuracy on the training set (its first ``train_eval_size`` examples,
    default all) and on (x_val, y_val), in eval mode. Returns the history: ``step``, ``loss`` and
    ``batch_accuracy`` for every step, ``eval_step``, ``train_accuracy``, ``val_accuracy``.
    """
    g = torch.Generator().manual_seed(seed)
    hist = {"step": [], "loss": [], "batch_accuracy": [], "eval_step": [], "train_accuracy": [],
            "val_accuracy": []}
    x_tr, y_tr = x[:train_eval_size], y[:train_eval_size]
    order, pos = torch.randperm(len(x), generator=g), 0
    steps_iter = range(1, steps + 1) if progress is None else progress(range(1, steps + 1))
    for step in steps_iter:
        model.train()
        if frozen:
            freeze_backbone(model)
        if pos + batch_size > len(x):                       # next epoch: reshuffle
            order, pos = torch.randperm(len(x), generator=g), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        logits = model(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        hist["step"].append(step)
        hist["loss"].append(round(loss.item(), 4))
        hist["batch_accuracy"].append(round((logits.argmax(-1) == y[idx]).float().mean().item(), 4))
        if eval_every and (step % eval_every == 0 or step == steps):
            hist["eval_step"].append(step)
            hist["train_accuracy"].append(accuracy(model, x_tr, y_tr))
            if x_val is not None:
                hist["val_accuracy"].append(accuracy(model, x_val, y_val))
    model.eval()
    return hist


def pretrain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 3e-3,
             batch_size: int = 128, seed: int = 0, **fit_kwargs) -> dict:
    """Supervised pre-training on a source task: AdamW with a one-cycle schedule (warm up for
    15% of the steps, then anneal), which gets the most out of a short budget. Returns
    :func:`fit`'s history."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.15)
    return fit(model, x, y, steps, optimizer, schedule, batch_size=batch_size, seed=seed,
               **fit_kwargs)


STRATEGIES = ("from scratch", "linear probe", "fine-tune")


def transfer(strategy: str, source: ResNet, num_classes: int, lr: float = 2e-3,
             backbone_lr: float = 5e-4, probe_lr: float = 2e-2):
    """A model and its optimizer for one of the three :data:`STRATEGIES`, given the pre-trained
    ``source`` network (left untouched):

    * ``"from scratch"``: the same architecture, freshly initialised, every weight trained at ``lr``;
    * ``"linear probe"``: the source's backbone, frozen, under a new head trained at ``probe_lr``;
    * ``"fine-tune"``: the source's backbone under a new head, everything trained, the backbone
      at the smaller ``backbone_lr`` so that it adapts without forgetting what it learned.

    Train with ``fit(model, x, y, steps, optimizer, frozen=(strategy == "linear probe"))``.
    """
    widths = [stage[0].conv1.out_channels for stage in source.stages]
    depths = [len(stage) for stage in source.stages]
    model = ResNet(widths, depths, source.fc.out_features, source.stem[0].in_channels)
    if strategy == "from scratch":
        return replace_head(model, num_classes), torch.optim.AdamW(model.parameters(), lr=lr)
    model.load_state_dict(source.state_dict())
    replace_head(model, num_classes)
    if strategy == "linear probe":
        freeze_backbone(model)
        return model, torch.optim.AdamW(model.fc.parameters(), lr=probe_lr)
    if strategy == "fine-tune":
        return model, torch.optim.AdamW(param_groups(model, lr, backbone_lr))
    raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")


# --------------------------------------------------------------------------- ImageNet class names
def imagenet_class_name(index: int) -> str:
    """The name of ImageNet-1k class ``index`` (0..999): the first WordNet lemma of its synset, in
    the standard order of the ILSVRC-2012 labels. ImageNet models (EfficientNet-Lite0 here) ship
    only the indices of their classes; this list is the public ImageNet label set."""
    if not 0 <= index < 1000:
        raise IndexError(f"ImageNet-1k classes are numbered 0..999, not {index}")
    return _imagenet_classes()[index]


def _imagenet_classes() -> list[str]:
    names = _IMAGENET_CLASSES.replace("\n", "").split("|")
    assert len(names) == 1000
    return names


_IMAGENET_CLASSES = """\
tench|goldfish|great white shark|tiger shark|hammerhead|electric ray|stingray|cock|hen|ostrich|
brambling|goldfinch|house finch|junco|indigo bunting|robin|bulbul|jay|magpie|chickadee|
water ouzel|kite|bald eagle|vulture|great grey owl|European fire salamander|common newt|eft|
spotted salamander|axolotl|bullfrog|tree frog|tailed frog|loggerhead|leatherback turtle|
mud turtle|terrapin|box turtle|banded gecko|common iguana|American chameleon|whiptail|agama|
frilled lizard|alligator lizard|Gila monster|green lizard|African chameleon|Komodo dragon|
African crocodile|American alligator|triceratops|thunder snake|ringneck snake|hognose snake|
green snake|king snake|garter snake|water snake|vine snake|night snake|boa constrictor|
rock python|Indian cobra|green mamba|sea snake|horned viper|diamondback|sidewinder|trilobite|
harvestman|scorpion|black and gold garden spider|barn spider|garden spider|black widow|
tarantula|wolf spider|tick|centipede|black grouse|ptarmigan|ruffed grouse|prairie chicken|
peacock|quail|partridge|African grey|macaw|sulphur-crested cockatoo|lorikeet|coucal|bee eater|
hornbill|hummingbird|jacamar|toucan|drake|red-breasted merganser|goose|black swan|tusker|
echidna|platypus|wallaby|koala|wombat|jellyfish|sea anemone|brain coral|flatworm|nematode|conch|
snail|slug|sea slug|chiton|chambered nautilus|Dungeness crab|rock crab|fiddler crab|king crab|
American lobster|spiny lobster|crayfish|hermit crab|isopod|white stork|black stork|spoonbill|
flamingo|little blue heron|American egret|bittern|crane|limpkin|European gallinule|
American coot|bustard|ruddy turnstone|red-backed sandpiper|redshank|dowitcher|oystercatcher|
pelican|king penguin|albatross|grey whale|killer whale|dugong|sea lion|Chihuahua|
Japanese spaniel|Maltese dog|Pekinese|Shih-Tzu|Blenheim spaniel|papillon|toy terrier|
Rhodesian ridgeback|Afghan hound|basset|beagle|bloodhound|bluetick|black-and-tan coonhound|
Walker hound|English foxhound|redbone|borzoi|Irish wolfhound|Italian greyhound|whippet|
Ibizan hound|Norwegian elkhound|otterhound|Saluki|Scottish deerhound|Weimaraner|
Staffordshire bullterrier|American Staffordshire terrier|Bedlington terrier|Border terrier|
Kerry blue terrier|Irish terrier|Norfolk terrier|Norwich terrier|Yorkshire terrier|
wire-haired fox terrier|Lakeland terrier|Sealyham terrier|Airedale|cairn|Australian terrier|
Dandie Dinmont|Boston bull|miniature schnauzer|giant schnauzer|standard schnauzer|
Scotch terrier|Tibetan terrier|silky terrier|soft-coated wheaten terrier|
West Highland white terrier|Lhasa|flat-coated retriever|curly-coated retriever|golden retriever|
Labrador retriever|Chesapeake Bay retriever|German short-haired pointer|vizsla|English setter|
Irish setter|Gordon setter|Brittany spaniel|clumber|English springer|Welsh springer spaniel|
cocker spaniel|Sussex spaniel|Irish water spaniel|kuvasz|schipperke|groenendael|malinois|briard|
kelpie|komondor|Old English sheepdog|Shetland sheepdog|collie|Border collie|
Bouvier des Flandres|Rottweiler|German shepherd|Doberman|miniature pinscher|
Greater Swiss Mountain dog|Bernese mountain dog|Appenzeller|EntleBucher|boxer|bull mastiff|
Tibetan mastiff|French bulldog|Great Dane|Saint Bernard|Eskimo dog|malamute|Siberian husky|
dalmatian|affenpinscher|basenji|pug|Leonberg|Newfoundland|Great Pyrenees|Samoyed|Pomeranian|
chow|keeshond|Brabancon griffon|Pembroke|Cardigan|toy poodle|miniature poodle|standard poodle|
Mexican hairless|timber wolf|white wolf|red wolf|coyote|dingo|dhole|African hunting dog|hyena|
red fox|kit fox|Arctic fox|grey fox|tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat|cougar|
lynx|leopard|snow leopard|jaguar|lion|tiger|cheetah|brown bear|American black bear|ice bear|
sloth bear|mongoose|meerkat|tiger beetle|ladybug|ground beetle|long-horned beetle|leaf beetle|
dung beetle|rhinoceros beetle|weevil|fly|bee|ant|grasshopper|cricket|walking stick|cockroach|
mantis|cicada|leafhopper|lacewing|dragonfly|damselfly|admiral|ringlet|monarch|cabbage butterfly|
sulphur butterfly|lycaenid|starfish|sea urchin|sea cucumber|wood rabbit|hare|Angora|hamster|
porcupine|fox squirrel|marmot|beaver|guinea pig|sorrel|zebra|hog|wild boar|warthog|hippopotamus|
ox|water buffalo|bison|ram|bighorn|ibex|hartebeest|impala|gazelle|Arabian camel|llama|weasel|
mink|polecat|black-footed ferret|otter|skunk|badger|armadillo|three-toed sloth|orangutan|
gorilla|chimpanzee|gibbon|siamang|guenon|patas|baboon|macaque|langur|colobus|proboscis monkey|
marmoset|capuchin|howler monkey|titi|spider monkey|squirrel monkey|Madagascar cat|indri|
Indian elephant|African elephant|lesser panda|giant panda|barracouta|eel|coho|rock beauty|
anemone fish|sturgeon|gar|lionfish|puffer|abacus|abaya|academic gown|accordion|acoustic guitar|
aircraft carrier|airliner|airship|altar|ambulance|amphibian|analog clock|apiary|apron|ashcan|
assault rifle|backpack|bakery|balance beam|balloon|ballpoint|Band Aid|banjo|bannister|barbell|
barber chair|barbershop|barn|barometer|barrel|barrow|baseball|basketball|bassinet|bassoon|
bathing cap|bath towel|bathtub|beach wagon|beacon|beaker|bearskin|beer bottle|beer glass|
bell cote|bib|bicycle-built-for-two|bikini|binder|binoculars|birdhouse|boathouse|bobsled|
bolo tie|bonnet|bookcase|bookshop|bottlecap|bow|bow tie|brass|brassiere|breakwater|breastplate|
broom|bucket|buckle|bulletproof vest|bullet train|butcher shop|cab|caldron|candle|cannon|canoe|
can opener|cardigan|car mirror|carousel|carpenter's kit|carton|car wheel|cash machine|cassette|
cassette player|castle|catamaran|CD player|cello|cellular telephone|chain|chainlink fence|
chain mail|chain saw|chest|chiffonier|chime|china cabinet|Christmas stocking|church|cinema|
cleaver|cliff dwelling|cloak|clog|cocktail shaker|coffee mug|coffeepot|coil|combination lock|
computer keyboard|confectionery|container ship|convertible|corkscrew|cornet|cowboy boot|
cowboy hat|cradle|crane|crash helmet|crate|crib|Crock Pot|croquet ball|crutch|cuirass|dam|desk|
desktop computer|dial telephone|diaper|digital clock|digital watch|dining table|dishrag|
dishwasher|disk brake|dock|dogsled|dome|doormat|drilling platform|drum|drumstick|dumbbell|
Dutch oven|electric fan|electric guitar|electric locomotive|entertainment center|envelope|
espresso maker|face powder|feather boa|file|fireboat|fire engine|fire screen|flagpole|flute|
folding chair|football helmet|forklift|fountain|fountain pen|four-poster|freight car|
French horn|frying pan|fur coat|garbage truck|gasmask|gas pump|goblet|go-kart|golf ball|
golfcart|gondola|gong|gown|grand piano|greenhouse|grille|grocery store|guillotine|hair slide|
hair spray|half track|hammer|hamper|hand blower|hand-held computer|handkerchief|hard disc|
harmonica|harp|harvester|hatchet|holster|home theater|honeycomb|hook|hoopskirt|horizontal bar|
horse cart|hourglass|iPod|iron|jack-o'-lantern|jean|jeep|jersey|jigsaw puzzle|jinrikisha|
joystick|kimono|knee pad|knot|lab coat|ladle|lampshade|laptop|lawn mower|lens cap|letter opener|
library|lifeboat|lighter|limousine|liner|lipstick|Loafer|lotion|loudspeaker|loupe|lumbermill|
magnetic compass|mailbag|mailbox|maillot|maillot|manhole cover|maraca|marimba|mask|matchstick|
maypole|maze|measuring cup|medicine chest|megalith|microphone|microwave|military uniform|
milk can|minibus|miniskirt|minivan|missile|mitten|mixing bowl|mobile home|Model T|modem|
monastery|monitor|moped|mortar|mortarboard|mosque|mosquito net|motor scooter|mountain bike|
mountain tent|mouse|mousetrap|moving van|muzzle|nail|neck brace|necklace|nipple|notebook|
obelisk|oboe|ocarina|odometer|oil filter|organ|oscilloscope|overskirt|oxcart|oxygen mask|packet|
paddle|paddlewheel|padlock|paintbrush|pajama|palace|panpipe|paper towel|parachute|parallel bars|
park bench|parking meter|passenger car|patio|pay-phone|pedestal|pencil box|pencil sharpener|
perfume|Petri dish|photocopier|pick|pickelhaube|picket fence|pickup|pier|piggy bank|pill bottle|
pillow|ping-pong ball|pinwheel|pirate|pitcher|plane|planetarium|plastic bag|plate rack|plow|
plunger|Polaroid camera|pole|police van|poncho|pool table|pop bottle|pot|potter's wheel|
power drill|prayer rug|printer|prison|projectile|projector|puck|punching bag|purse|quill|quilt|
racer|racket|radiator|radio|radio telescope|rain barrel|recreational vehicle|reel|reflex camera|
refrigerator|remote control|restaurant|revolver|rifle|rocking chair|rotisserie|rubber eraser|
rugby ball|rule|running shoe|safe|safety pin|saltshaker|sandal|sarong|sax|scabbard|scale|
school bus|schooner|scoreboard|screen|screw|screwdriver|seat belt|sewing machine|shield|
shoe shop|shoji|shopping basket|shopping cart|shovel|shower cap|shower curtain|ski|ski mask|
sleeping bag|slide rule|sliding door|slot|snorkel|snowmobile|snowplow|soap dispenser|
soccer ball|sock|solar dish|sombrero|soup bowl|space bar|space heater|space shuttle|spatula|
speedboat|spider web|spindle|sports car|spotlight|stage|steam locomotive|steel arch bridge|
steel drum|stethoscope|stole|stone wall|stopwatch|stove|strainer|streetcar|stretcher|
studio couch|stupa|submarine|suit|sundial|sunglass|sunglasses|sunscreen|suspension bridge|swab|
sweatshirt|swimming trunks|swing|switch|syringe|table lamp|tank|tape player|teapot|teddy|
television|tennis ball|thatch|theater curtain|thimble|thresher|throne|tile roof|toaster|
tobacco shop|toilet seat|torch|totem pole|tow truck|toyshop|tractor|trailer truck|tray|
trench coat|tricycle|trimaran|tripod|triumphal arch|trolleybus|trombone|tub|turnstile|
typewriter keyboard|umbrella|unicycle|upright|vacuum|vase|vault|velvet|vending machine|vestment|
viaduct|violin|volleyball|waffle iron|wall clock|wallet|wardrobe|warplane|washbasin|washer|
water bottle|water jug|water tower|whiskey jug|whistle|wig|window screen|window shade|
Windsor tie|wine bottle|wing|wok|wooden spoon|wool|worm fence|wreck|yawl|yurt|web site|
comic book|crossword puzzle|street sign|traffic light|book jacket|menu|plate|guacamole|consomme|
hot pot|trifle|ice cream|ice lolly|French loaf|bagel|pretzel|cheeseburger|hotdog|mashed potato|
head cabbage|broccoli|cauliflower|zucchini|spaghetti squash|acorn squash|butternut squash|
cucumber|artichoke|bell pepper|cardoon|mushroom|Granny Smith|strawberry|orange|lemon|fig|
pineapple|banana|jackfruit|custard apple|pomegranate|hay|carbonara|chocolate sauce|dough|
meat loaf|pizza|potpie|burrito|red wine|espresso|cup|eggnog|alp|bubble|cliff|coral reef|geyser|
lakeside|promontory|sandbar|seashore|valley|volcano|ballplayer|groom|scuba diver|rapeseed|daisy|
yellow lady's slipper|corn|acorn|hip|buckeye|coral fungus|agaric|gyromitra|stinkhorn|earthstar|
hen-of-the-woods|bolete|ear|toilet tissue"""
