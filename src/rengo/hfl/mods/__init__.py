"""Client mods: middleware around a client (FedProx, SCAFFOLD, update clipping, update
compression, personal layers, FedRep, Ditto, fine-tuning before evaluation), the registry
strategies request them from, the chain that runs them, and the attack simulators that test
a defence (installed on chosen clients with :func:`for_clients`), and simulated dropouts and
stragglers (:class:`SimulatedDropout`)."""

from rengo.hfl.mods.attacks import (
    BackdoorAttack,
    ForClients,
    GaussianAttack,
    LabelFlipAttack,
    ScaledUpdateAttack,
    SignFlipAttack,
    attack_registry,
    for_clients,
    register_attack,
)
from rengo.hfl.mods.chain import (
    COORDINATOR_SEED_KEY,
    EVALUATE,
    EVALUATION_FIT_KEY,
    FIT,
    MODS_KEY,
    CallNext,
    ClientCall,
    ClientMod,
    Mod,
    ModChain,
    register_mod,
    registered_mods,
)
from rengo.hfl.mods.clipping import ClipUpdateMod, clip_update
from rengo.hfl.mods.compression import CompressUpdateMod, DecompressModelMod
from rengo.hfl.mods.ditto import DittoMod
from rengo.hfl.mods.dp_clip import DP_CLIP_KEY, DPClipMod
from rengo.hfl.mods.dropout import SimulatedClientLoss, SimulatedDropout
from rengo.hfl.mods.fedprox import FedProxMod
from rengo.hfl.mods.fedrep import FedRepMod
from rengo.hfl.mods.finetune import FineTuneMod
from rengo.hfl.mods.local_layers import LocalLayersMod
from rengo.hfl.mods.qffl import QFFLMod, qffl_terms
from rengo.hfl.mods.scaffold import CONTROL_KEY, ScaffoldCorrection, ScaffoldMod

__all__ = [
    "CONTROL_KEY",
    "COORDINATOR_SEED_KEY",
    "DP_CLIP_KEY",
    "EVALUATE",
    "EVALUATION_FIT_KEY",
    "FIT",
    "MODS_KEY",
    "BackdoorAttack",
    "CallNext",
    "ClientCall",
    "ClientMod",
    "ClipUpdateMod",
    "CompressUpdateMod",
    "DPClipMod",
    "DecompressModelMod",
    "DittoMod",
    "FedProxMod",
    "FedRepMod",
    "FineTuneMod",
    "ForClients",
    "GaussianAttack",
    "LabelFlipAttack",
    "LocalLayersMod",
    "Mod",
    "ModChain",
    "QFFLMod",
    "ScaffoldCorrection",
    "ScaffoldMod",
    "ScaledUpdateAttack",
    "SignFlipAttack",
    "SimulatedClientLoss",
    "SimulatedDropout",
    "attack_registry",
    "clip_update",
    "for_clients",
    "qffl_terms",
    "register_attack",
    "register_mod",
    "registered_mods",
]
