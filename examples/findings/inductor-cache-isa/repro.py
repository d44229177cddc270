"""torch.compile (Inductor, CPU) serves code compiled for one ISA to a process capped at another: wrong values.

Run it as README.md here says: the first run fills an Inductor cache natively (AVX-512), the second reads the
same cache with ATEN_CPU_CAPABILITY=avx2 and gets softplus(0) = 0.69314... off by 0.69 or more; with a cache
folder of its own the capped run is right. Prints torch's CPU capability and the largest error of
softplus(0) over 20,000 zeros; exit status 1 where that error is not 0.
"""

import sys

import torch

f = torch.compile(lambda x: torch.nn.functional.softplus(x))
y = f(torch.zeros(20000))
err = float((y - 0.6931471824645996).abs().max())  # softplus(0) = log 2, rounded to float32
print(torch.backends.cpu.get_cpu_capability(), err)
sys.exit(0 if err == 0.0 else 1)
