"""Suite-wide settings: one intra-op thread. The test networks are small, where a second thread costs more in
synchronisation than it saves, and it keeps runs steady on a 2-core CI machine."""

import torch

torch.set_num_threads(1)
